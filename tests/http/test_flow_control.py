"""Slow consumers, dead peers, crashing sessions."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import trio
from pycrdt import YMessageType
from trio_websocket import open_websocket_url
from wsproto.events import BytesMessage

from codeinterview.actors.messages import ReplaceCode
from codeinterview.actors.session import LiveSession
from tests.clients import closed_with, json_client, socket_url, yjs_client
from tests.http.api import bearer, create_session, join
from tests.http.conftest import StartServer
from tests.http.raw import raw_websocket

BIG_STATE = {"user": {"name": "x" * 60_000}}
PAUSED_FRAMES = 100  # of 60 kB: far more than the kernel buffers between server and client


async def test_a_reader_that_stops_is_disconnected_and_others_keep_going(
    start_server: StartServer,
) -> None:
    server = await start_server(outbound_queue_size=8, rate_limits_enabled=False)
    async with server.client() as http:
        created = await create_session(http)
    stalled_url = socket_url(server.ws_url, created.id, created.token, protocol="yjs")
    async with open_websocket_url(stalled_url, message_queue_size=0) as stalled, yjs_client(
        server.ws_url, created.id, created.token
    ) as writer, yjs_client(server.ws_url, created.id, created.token) as reader:
        # The stalled client never reads again; the writer floods awareness (relayed to the
        # others), and the reader keeps receiving every one of them.
        for clock in range(1, 201):
            await writer.send_awareness(4242, clock, BIG_STATE)
            await reader.wait_until(lambda clock=clock: len(reader.awareness) >= clock)
        await writer.insert(0, "still flowing")
        await reader.wait_until(lambda: reader.code == "still flowing")
        code, reason = await closed_with(stalled)
    assert code == 4429 and "slow" in reason


async def test_a_reader_that_pauses_gets_every_frame_whole_and_in_order(start_server: StartServer) -> None:
    """Frames go straight from the session to an idle socket until its buffers fill; then the
    rest of a frame the socket took only in part, and the frames after it, must follow in order
    with nothing in between (codeinterview/http/hypercorn_fastpath.py, `DirectWrite`)."""
    server = await start_server(rate_limits_enabled=False)
    async with server.client() as http:
        created = await create_session(http)
    paused_url = socket_url(server.ws_url, created.id, created.token, protocol="yjs")
    async with raw_websocket(paused_url) as paused, yjs_client(
        server.ws_url, created.id, created.token
    ) as writer:
        for clock in range(1, PAUSED_FRAMES + 1):
            await writer.send_awareness(4242, clock, {"user": {"name": "x" * 60_000, "n": clock}})
        seen: list[int] = []
        message = b""
        with trio.fail_after(30):
            while len(seen) < PAUSED_FRAMES:
                event = await paused.next_event()
                assert isinstance(event, BytesMessage)  # wsproto delivers a message in parts
                message += event.data
                if not event.message_finished:
                    continue
                found = re.fullmatch(rb'.*\{"user": ?\{"name": ?"x{60000}", ?"n": ?(\d+)\}\}', message, re.S)
                if message[0] == YMessageType.AWARENESS and found:
                    seen.append(int(found[1]))
                message = b""
    assert seen == list(range(1, PAUSED_FRAMES + 1))


async def test_a_reader_reset_while_its_frames_wait_leaves_and_others_keep_going(
    start_server: StartServer,
) -> None:
    """The paused reader's socket is full, so a writer task is sending to it when the peer resets
    the connection: the reader ends, cancels that writer and waits for it, and only then does the
    session hear that the participant left (codeinterview/http/ws.py, `Connection.stop_writer`)."""
    server = await start_server(rate_limits_enabled=False)
    async with server.client() as http:
        created = await create_session(http)
        candidate = await join(http, created.id, created.candidate_invite)
    paused_url = socket_url(server.ws_url, created.id, str(candidate["token"]), protocol="yjs")
    async with json_client(server.ws_url, created.id, created.token) as watcher, yjs_client(
        server.ws_url, created.id, created.token
    ) as writer, yjs_client(server.ws_url, created.id, created.token) as reader:
        async with raw_websocket(paused_url) as paused:
            for clock in range(1, 41):  # 40 frames of 60 kB: more than the kernel buffers hold
                await writer.send_awareness(4242, clock, {"user": {"name": "x" * 60_000, "n": clock}})
                await reader.wait_until(lambda clock=clock: len(reader.awareness) >= clock)
            await paused.reset()
        left = await watcher.next_of("participant_left")
        assert left["data"]["id"] == candidate["id"]  # type: ignore[index]
        await writer.insert(0, "still flowing")
        await reader.wait_until(lambda: reader.code == "still flowing")


async def test_silent_peer_is_closed_and_a_live_one_stays(start_server: StartServer) -> None:
    server = await start_server(ws_ping_interval_seconds=0.2, ws_ping_timeout_seconds=0.3)
    async with server.client() as http:
        created = await create_session(http)
    async with json_client(server.ws_url, created.id, created.token) as alive:
        async with open_websocket_url(socket_url(server.ws_url, created.id, created.token, protocol="json")) as silent:
            for _ in range(3):
                await alive.next_of("ping")
                await alive.send("pong")
            code, reason = await closed_with(silent)
            assert code == 4002 and reason
        await alive.send("ping")
        await alive.next_of("pong")


async def test_a_crashing_session_affects_only_itself(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: one specific message makes the session logic raise.
    original = LiveSession.receive_event

    def explode(self: LiveSession, connection_id: int, message: object) -> object:
        if isinstance(message, ReplaceCode) and message.code == "crash!":
            raise RuntimeError("injected fault")
        return original(self, connection_id, message)  # type: ignore[arg-type]

    monkeypatch.setattr(LiveSession, "receive_event", explode)
    server = await start_server()
    async with server.client() as http:
        doomed = await create_session(http, code="doomed")
        healthy = await create_session(http, code="healthy")
        async with json_client(server.ws_url, doomed.id, doomed.token) as victim, yjs_client(
            server.ws_url, doomed.id, doomed.token
        ) as bystander, yjs_client(server.ws_url, healthy.id, healthy.token) as other:
            await victim.send("code_update", {"code": "crash!"})
            assert (await closed_with(victim.socket))[0] == 1011
            assert (await closed_with(bystander.socket))[0] == 1011
            await other.insert(7, "!")
            response = await http.get(f"/api/v1/sessions/{healthy.id}/code", headers=bearer(healthy.token))
            assert response.json()["data"]["code"] == "healthy!"
        async with yjs_client(server.ws_url, doomed.id, doomed.token) as again:
            assert again.code == "doomed"
            await again.insert(0, "back: ")
            response = await http.get(f"/api/v1/sessions/{doomed.id}/code", headers=bearer(doomed.token))
            assert response.json()["data"]["code"] == "back: doomed"


async def test_idle_session_stops_after_its_last_connection(start_server: StartServer) -> None:
    server = await start_server(idle_timeout_seconds=0.1)
    async with server.client() as http:
        created = await create_session(http)
        async with yjs_client(server.ws_url, created.id, created.token) as yjs:
            await yjs.insert(0, "kept")
        # With nobody connected, the actor flushes and stops; the next read comes from storage.
        with trio.fail_after(10):
            while (await _live_sessions(http)) != 0:
                await trio.sleep(0.05)
        response = await http.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(created.token))
        assert response.json()["data"]["code"] == "kept"


async def _live_sessions(http: httpx.AsyncClient) -> int:
    metrics = (await http.get("/metrics")).text
    for line in metrics.splitlines():
        if line.startswith("codeinterview_live_sessions "):
            return int(float(line.split()[1]))
    raise AssertionError("no live-sessions metric")
