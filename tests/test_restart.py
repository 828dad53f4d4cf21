"""kill -9 and restart a real server process while a Yjs client types."""

from __future__ import annotations

import httpx
import trio
from pycrdt import Doc

from tests.clients import yjs_client
from tests.http.api import bearer, create_session
from tests.process import server_process
from tests.stored import stored_code, wait_until_stored

FLUSH_INTERVAL = 0.25


async def test_kill_loses_at_most_the_flush_interval(database_url: str) -> None:
    async with server_process(database_url, flush_interval_seconds=str(FLUSH_INTERVAL)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            created = await create_session(http, code="")
        async with yjs_client(server.ws_url, created.id, created.token) as typist:
            for n, char in enumerate("def solve():\n    return 42\n"):
                await typist.insert(n, char)
            typed = typist.code
            waited = await wait_until_stored(database_url, created.id, typed)
            assert waited <= FLUSH_INTERVAL + 1.0
            server.kill()
            await server.process.wait()
    assert await stored_code(database_url, created.id) == typed
    async with server_process(database_url) as restarted:
        async with httpx.AsyncClient(base_url=restarted.base_url) as http:
            code = await http.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(created.token))
    assert code.json()["data"]["code"] == typed


async def test_reconnecting_yjs_client_restores_unsaved_edits_once(database_url: str) -> None:
    doc = Doc()
    async with server_process(database_url, flush_interval_seconds="3600") as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            created = await create_session(http, code="base\n")
        async with yjs_client(server.ws_url, created.id, created.token, doc=doc) as typist:
            await typist.insert(5, "unsaved edit\n")
            async with httpx.AsyncClient(base_url=server.base_url) as http:
                await _wait_for_live_code(http, created.id, created.token, "base\nunsaved edit\n")
            server.kill()
            await server.process.wait()
    assert await stored_code(database_url, created.id) == "base\n"
    async with server_process(database_url, flush_interval_seconds=str(FLUSH_INTERVAL)) as restarted:
        async with yjs_client(restarted.ws_url, created.id, created.token, doc=doc) as again:
            assert again.code == "base\nunsaved edit\n"
            async with yjs_client(restarted.ws_url, created.id, created.token) as fresh:
                await fresh.wait_until(lambda: fresh.code == "base\nunsaved edit\n")
            await wait_until_stored(database_url, created.id, "base\nunsaved edit\n")


async def test_sigterm_flushes_then_closes_with_1001(database_url: str) -> None:
    async with server_process(database_url, flush_interval_seconds="3600") as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            created = await create_session(http, code="")
            async with yjs_client(server.ws_url, created.id, created.token) as typist:
                await typist.insert(0, "saved by SIGTERM")
                await _wait_for_live_code(http, created.id, created.token, "saved by SIGTERM")
                server.terminate()
                from tests.clients import closed_with

                code, _ = await closed_with(typist.socket)
                assert code == 1001
        with trio.fail_after(15):
            assert await server.process.wait() == 0
    assert await stored_code(database_url, created.id) == "saved by SIGTERM"


async def _wait_for_live_code(http: httpx.AsyncClient, session_id: str, token: str, expected: str) -> None:
    with trio.fail_after(10):
        while True:
            response = await http.get(f"/api/v1/sessions/{session_id}/code", headers=bearer(token))
            if response.json()["data"]["code"] == expected:
                return
