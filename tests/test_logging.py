"""Production logs: JSON lines, session and participant ids on session lines, no secrets."""

from __future__ import annotations

import json

import httpx
import trio

from tests.clients import closed_with, yjs_client
from tests.http.api import create_session, join
from tests.process import server_process


async def test_json_logs_name_the_session_and_never_the_secrets(sqlite_url: str) -> None:
    async with server_process(sqlite_url, log_format="json", idle_timeout_seconds="0.05") as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            created = await create_session(http)
            candidate = await join(http, created.id, created.candidate_invite)
        async with yjs_client(server.ws_url, created.id, str(candidate["token"])) as yjs:
            await yjs.insert(0, "x")
        server.terminate()
        with trio.fail_after(15):
            await server.process.wait()
    output = bytes(server.output).decode()
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert records and all({"event", "level", "timestamp"} <= record.keys() for record in records)
    about_connection = [r for r in records if "connection" in r["event"]]
    assert about_connection, output
    for record in about_connection:
        assert record["session_id"] == created.id
        assert record["participant_id"] == candidate["id"]
    assert any(r["event"] == "session actor started" and r.get("session_id") == created.id for r in records)
    for secret in (created.token, str(candidate["token"]), created.candidate_invite, created.interviewer_invite):
        assert secret not in output
