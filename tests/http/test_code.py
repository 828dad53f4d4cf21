"""Code reads and writes, and snapshots."""

from __future__ import annotations

import httpx

from tests.http.api import assert_error, bearer, create_session, join
from tests.http.conftest import StartServer


async def test_put_then_get_code(client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="let a = 1;")
    url = f"/api/v1/sessions/{created.id}/code"
    first = await client.get(url, headers=bearer(created.token))
    assert first.json()["data"]["code"] == "let a = 1;"
    assert first.json()["data"]["language"] == "javascript"
    put = await client.put(url, json={"code": "def f():\n    return 'é😀'\n", "language": "python"}, headers=bearer(created.token))
    assert put.status_code == 200
    data = (await client.get(url, headers=bearer(created.token))).json()["data"]
    assert data == put.json()["data"]
    assert data["code"] == "def f():\n    return 'é😀'\n" and data["language"] == "python"
    assert isinstance(data["updated_at"], int)
    session = (await client.get(f"/api/v1/sessions/{created.id}", headers=bearer(created.token))).json()
    assert session["data"]["code"] == data["code"]


async def test_candidates_write_code_too(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    url = f"/api/v1/sessions/{created.id}/code"
    put = await client.put(url, json={"code": "x"}, headers=bearer(str(candidate["token"])))
    assert put.status_code == 200 and put.json()["data"]["language"] == "javascript"


async def test_code_over_the_limit_is_refused_and_nothing_changes(start_server: StartServer) -> None:
    server = await start_server(max_code_bytes=1000)
    async with server.client() as client:
        created = await create_session(client, code="keep")
        url = f"/api/v1/sessions/{created.id}/code"
        too_big = await client.put(url, json={"code": "é" * 501}, headers=bearer(created.token))
        assert_error(too_big, 413, "code_too_large")
        assert (await client.get(url, headers=bearer(created.token))).json()["data"]["code"] == "keep"
        at_limit = await client.put(url, json={"code": "é" * 500}, headers=bearer(created.token))
        assert at_limit.status_code == 200
        refused = await client.post(
            "/api/v1/sessions",
            json={"creator": {"id": created.creator_id, "name": "A", "color": "b"}, "code": "x" * 1001},
        )
        assert_error(refused, 413, "code_too_large")


async def test_snapshots(client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="v1")
    base = f"/api/v1/sessions/{created.id}"
    headers = bearer(created.token)
    first = await client.post(f"{base}/snapshots", json={"label": "start"}, headers=headers)
    assert first.status_code == 201
    await client.put(f"{base}/code", json={"code": "v2", "language": "python"}, headers=headers)
    second = await client.post(f"{base}/snapshots", json={}, headers=headers)
    assert second.status_code == 201
    listed = (await client.get(f"{base}/snapshots", headers=headers)).json()["data"]
    assert [(s["label"], s["code"], s["language"]) for s in listed] == [
        ("start", "v1", "javascript"),
        (None, "v2", "python"),
    ]
    assert listed[0]["created_by"] == created.creator_id
    one = await client.get(f"{base}/snapshots/{first.json()['data']['id']}", headers=headers)
    assert one.json()["data"] == first.json()["data"]
    assert_error(await client.get(f"{base}/snapshots/999999999", headers=headers), 404, "snapshot_not_found")
    assert_error(await client.get(f"{base}/snapshots/99999999999999999999", headers=headers), 404)


async def test_snapshots_of_another_session_are_not_visible(client: httpx.AsyncClient) -> None:
    mine = await create_session(client, code="mine")
    theirs = await create_session(client, code="theirs")
    saved = await client.post(f"/api/v1/sessions/{theirs.id}/snapshots", json={}, headers=bearer(theirs.token))
    snapshot_id = saved.json()["data"]["id"]
    response = await client.get(f"/api/v1/sessions/{mine.id}/snapshots/{snapshot_id}", headers=bearer(mine.token))
    assert_error(response, 404)
