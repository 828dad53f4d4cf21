"""The original guide's example tests, as written, under OPEN_ACCESS=true."""

from __future__ import annotations

import httpx
import pytest

from tests.http.conftest import Server, StartServer


@pytest.fixture
async def open_server(start_server: StartServer) -> Server:
    return await start_server(open_access=True)


async def test_create_session(open_server: Server) -> None:
    async with open_server.client() as client:
        response = await client.post("/api/v1/sessions", json={
            "creator": {
                "id": "550e8400-e29b-41d4-a716-446655440000",
                "name": "John Doe",
                "color": "hsl(250, 84%, 54%)"
            }
        })

    assert response.status_code == 201
    data = response.json()
    assert data["success"] == True  # noqa: E712 - as the guide writes it
    assert "id" in data["data"]
    assert len(data["data"]["participants"]) == 1


async def test_get_session(open_server: Server) -> None:
    async with open_server.client() as client:
        # Create session first
        create_response = await client.post("/api/v1/sessions", json={
            "creator": {
                "id": "550e8400-e29b-41d4-a716-446655440000",
                "name": "John Doe",
                "color": "hsl(250, 84%, 54%)"
            }
        })
        session_id = create_response.json()["data"]["id"]

        # Get session
        response = await client.get(f"/api/v1/sessions/{session_id}")
    assert response.status_code == 200
    assert response.json()["data"]["id"] == session_id


async def test_open_access_reads_and_candidate_joins(open_server: Server) -> None:
    async with open_server.client() as client:
        created = await client.post("/api/v1/sessions", json={
            "creator": {"id": "550e8400-e29b-41d4-a716-446655440000", "name": "J", "color": "red"}
        })
        session_id = created.json()["data"]["id"]
        joined = await client.post(
            f"/api/v1/sessions/{session_id}/participants", json={"name": "Cand", "color": "blue"}
        )
        assert joined.status_code == 201 and joined.json()["data"]["role"] == "candidate"
        data = (await client.get(f"/api/v1/sessions/{session_id}")).json()["data"]
        assert "invites" not in data
        assert (await client.get(f"/api/v1/sessions/{session_id}/code")).status_code == 200
        # Writes still need a credential.
        assert (await client.put(f"/api/v1/sessions/{session_id}/code", json={"code": "x"})).status_code == 401
        assert (await client.get("/api/v1/sessions/0badc0de")).status_code == 404


async def test_open_access_is_off_by_default(start_server: StartServer) -> None:
    server = await start_server()
    async with server.client() as client:
        created = await client.post("/api/v1/sessions", json={
            "creator": {"id": "550e8400-e29b-41d4-a716-446655440000", "name": "J", "color": "red"}
        })
        response = await client.get(f"/api/v1/sessions/{created.json()['data']['id']}")
    assert response.status_code == 401
