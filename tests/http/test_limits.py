"""Limits and abuse resistance: rates, sizes, origins, pre-authentication budget, expiry."""

from __future__ import annotations

import contextlib
import json
import uuid

import httpx
from trio_websocket import ConnectionClosed, open_websocket_url

from codeinterview.http.ws import MAX_RATE_STRIKES
from tests.clients import closed_with, json_client, socket_url, yjs_client
from tests.http.api import assert_error, bearer, create_session, join
from tests.http.conftest import StartServer


def creator() -> dict[str, object]:
    return {"creator": {"id": str(uuid.uuid4()), "name": "Ada", "color": "red"}}


async def test_session_creation_is_rate_limited_per_address(start_server: StartServer) -> None:
    server = await start_server(rate_limit_sessions="3/minute")
    async with server.client() as client:
        for _ in range(3):
            assert (await client.post("/api/v1/sessions", json=creator())).status_code == 201
        refused = await client.post("/api/v1/sessions", json=creator())
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def test_joins_are_rate_limited(start_server: StartServer) -> None:
    server = await start_server(rate_limit_joins="2/minute")
    async with server.client() as client:
        created = await create_session(client)
        await join(client, created.id, created.candidate_invite)
        await join(client, created.id, created.candidate_invite)
        refused = await client.post(
            f"/api/v1/sessions/{created.id}/participants",
            json={"invite": created.candidate_invite, "name": "n", "color": "c"},
        )
    assert_error(refused, 429, "rate_limited")


async def test_failed_lookups_lock_out_a_scanner(start_server: StartServer) -> None:
    server = await start_server(rate_limit_failures="5/minute")
    async with server.client() as client:
        created = await create_session(client)
        for guess in range(5):
            response = await client.get(f"/api/v1/sessions/{guess:08x}", headers=bearer(created.token))
            assert response.status_code in (401, 403, 404)
        # Now even a correct request from that address waits.
        blocked = await client.get(f"/api/v1/sessions/{created.id}", headers=bearer(created.token))
        assert_error(blocked, 429, "rate_limited")
        assert int(blocked.headers["Retry-After"]) >= 1
        async with open_websocket_url(socket_url(server.ws_url, created.id, created.token)) as socket:
            assert (await closed_with(socket))[0] == 4429
        # Creating sessions is a different budget.
        assert (await client.post("/api/v1/sessions", json=creator())).status_code == 201


async def test_websocket_auth_failures_count_too(start_server: StartServer) -> None:
    server = await start_server(rate_limit_failures="3/minute")
    async with server.client() as client:
        created = await create_session(client)
        for _ in range(3):
            async with open_websocket_url(socket_url(server.ws_url, created.id, "forged")) as socket:
                assert (await closed_with(socket))[0] == 4401
        response = await client.get(f"/api/v1/sessions/{created.id}", headers=bearer(created.token))
    assert_error(response, 429)


async def test_json_message_flood_is_warned_then_closed(start_server: StartServer) -> None:
    server = await start_server(rate_limit_ws_messages="5/second")
    async with server.client() as client:
        created = await create_session(client)
    async with json_client(server.ws_url, created.id, created.token) as flooder:
        # Exactly enough to be closed: unread messages at close would make the kernel reset
        # the connection, and the close frame would be lost with them.
        with contextlib.suppress(ConnectionClosed):
            for n in range(5 + MAX_RATE_STRIKES + 1):
                await flooder.send("cursor_update", {"position": n})
        with contextlib.suppress(ConnectionClosed):
            while True:
                await flooder.receive_one()
        warnings = [e for e in flooder.events if e["type"] == "error"]
        assert warnings and all("rate" in str(e["data"]) for e in warnings)
        closed = flooder.socket.closed
    assert closed is not None and closed.code == 4429 and "rate" in (closed.reason or "")


async def test_yjs_flood_is_closed(start_server: StartServer) -> None:
    server = await start_server(rate_limit_ws_messages="5/second")
    async with server.client() as client:
        created = await create_session(client)
    async with yjs_client(server.ws_url, created.id, created.token) as flooder:
        for n in range(30):
            flooder.text.insert(0, str(n))
        with contextlib.suppress(ConnectionClosed):
            await flooder.flush()
        code, _ = await closed_with(flooder.socket)
    assert code == 4429


async def test_oversized_messages(start_server: StartServer) -> None:
    server = await start_server(ws_max_message_bytes=16 * 1024, max_code_bytes=4096)
    async with server.client() as client:
        created = await create_session(client, code="keep")
        async with json_client(server.ws_url, created.id, created.token) as simple:
            await simple.send("code_update", {"code": "x" * 5000})
            error = await simple.next_of("error")
            assert "exceeds" in str(error["data"])
            await simple.socket.send_message(json.dumps({"type": "code_update", "data": {"code": "y" * 20_000}}))
            assert (await closed_with(simple.socket))[0] == 1009
        async with yjs_client(server.ws_url, created.id, created.token) as yjs:
            await yjs.insert(0, "z" * 5000)
            code, reason = await closed_with(yjs.socket)
            assert code == 1009 and "exceed" in reason
        stored = await client.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(created.token))
        assert stored.json()["data"]["code"] == "keep"


async def test_preauth_budget(start_server: StartServer) -> None:
    server = await start_server(ws_preauth_max_bytes=512)
    async with server.client() as client:
        created = await create_session(client)
    huge_auth = json.dumps({"type": "auth", "token": created.token, "pad": "p" * 2000})
    async with open_websocket_url(socket_url(server.ws_url, created.id, None)) as socket:
        await socket.send_message(huge_auth)
        assert (await closed_with(socket))[0] == 1009
    async with open_websocket_url(socket_url(server.ws_url, created.id, None)) as socket:
        await socket.send_message(json.dumps({"type": "ping"}))
        assert (await closed_with(socket))[0] == 4401


async def test_websocket_origin_allow_list(start_server: StartServer) -> None:
    server = await start_server(cors_origins=["http://app.test"])
    async with server.client() as client:
        created = await create_session(client)
    url = socket_url(server.ws_url, created.id, created.token, protocol="json")
    host = server.base_url.removeprefix("http://")
    async with open_websocket_url(url, extra_headers=[("Origin", "http://evil.test")]) as socket:
        code, reason = await closed_with(socket)
        assert code == 4403 and "origin" in reason
    for origin in ("http://app.test", f"http://{host}"):
        async with open_websocket_url(url, extra_headers=[("Origin", origin)]) as socket:
            assert json.loads(await socket.get_message())["type"] == "session_state"


async def test_sockets_close_when_the_session_expires(start_server: StartServer) -> None:
    server = await start_server(session_ttl_seconds=1)
    async with server.client() as client:
        created = await create_session(client)
    async with json_client(server.ws_url, created.id, created.token) as simple:
        code, reason = await closed_with(simple.socket)
    assert code == 4410 and "expired" in reason


async def test_cursor_updates_are_small(server: object) -> None:
    async with server.client() as client:  # type: ignore[attr-defined]
        created = await create_session(client)
    async with json_client(server.ws_url, created.id, created.token) as simple:  # type: ignore[attr-defined]
        await simple.send("cursor_update", {"note": "x" * 5000})
        error = await simple.next_of("error")
        assert "2048" in str(error["data"])
