"""Health, the OpenAPI document, CORS."""

from __future__ import annotations

import httpx

from tests.http.conftest import StartServer


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok" and body["database"] == "ok"
    assert isinstance(body["timestamp"], int)
    assert body["success"] is True and body["data"]["status"] == "ok"


async def test_openapi_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for path in (
        "/api/v1/sessions",
        "/api/v1/sessions/{session_id}",
        "/api/v1/sessions/{session_id}/participants",
        "/api/v1/sessions/{session_id}/participants/{participant_id}",
        "/api/v1/sessions/{session_id}/code",
        "/api/v1/sessions/{session_id}/snapshots",
        "/api/v1/sessions/{session_id}/snapshots/{snapshot_id}",
        "/api/v1/health",
    ):
        assert path in paths, path
    create = paths["/api/v1/sessions"]["post"]
    assert "requestBody" in create and "201" in create["responses"]


async def test_cors_for_allowed_origins_only(start_server: StartServer) -> None:
    server = await start_server(cors_origins=["http://app.example"])
    async with server.client() as client:
        allowed = await client.options(
            "/api/v1/sessions",
            headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
        )
        other = await client.get("/api/v1/health", headers={"Origin": "http://evil.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://app.example"
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_web_client_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text
    script = await client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert len(script.content) > 10_000


async def test_readiness(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/ready")
    assert response.status_code == 200 and response.json()["data"]["ready"] is True
