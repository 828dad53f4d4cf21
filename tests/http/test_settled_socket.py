"""A session socket once it has settled down to wait (codeinterview/http/hypercorn_lean.py, and
the read loop in hypercorn_fastpath.py): what only the handshake needed is let go, the connection
still works both ways, and however the peer leaves (a close frame, a bare end of the TCP stream,
a reset) the session sees it leave."""

from __future__ import annotations

import gc
import json

import httpx
import pytest
import trio
from hypercorn.protocol.h11 import H11WSConnection
from hypercorn.protocol.ws_stream import WSStream
from wsproto.events import CloseConnection, TextMessage
from wsproto.handshake import H11Handshake

from tests.clients import json_client, socket_url
from tests.http.api import create_session, join
from tests.http.conftest import Server
from tests.http.raw import RawWebSocket, raw_websocket

WAIT_SECONDS = 10


def _streams_of(session_id: str) -> list[WSStream]:
    return [
        obj
        for obj in gc.get_objects()
        if type(obj) is WSStream and getattr(obj, "scope", {}).get("path") == f"/ws/sessions/{session_id}"
    ]


def _json_frame(raw: RawWebSocket, kind: str, data: object) -> bytes:
    return raw.encode(TextMessage(json.dumps({"type": kind, "data": data})))


async def _next_text(raw: RawWebSocket, kind: str, **data: object) -> dict[str, object]:
    """The next JSON event of this kind (and with these data fields, if given)."""
    with trio.fail_after(WAIT_SECONDS):
        while True:
            event = await raw.next_event()
            if isinstance(event, TextMessage):
                message: dict[str, object] = json.loads(event.data)
                fields = message.get("data")
                if message["type"] == kind and all(
                    isinstance(fields, dict) and fields.get(k) == v for k, v in data.items()
                ):
                    return message


async def test_a_settled_socket_lets_go_of_the_handshake_and_still_works(
    server: Server, client: httpx.AsyncClient
) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    url = socket_url(server.ws_url, created.id, str(candidate["token"]), protocol="json")
    async with json_client(server.ws_url, created.id, created.token) as ada, raw_websocket(url) as raw:
        # A round trip through the session from each side: both readers are in their loop.
        await raw.stream.send_all(_json_frame(raw, "language_change", {"language": "python"}))
        await ada.wait_until(lambda: ada.language == "python")
        await ada.send("code_update", {"code": "print(1)"})
        await _next_text(raw, "code_update", code="print(1)")

        streams = _streams_of(created.id)
        assert len(streams) == 2
        for stream in streams:
            assert set(stream.scope) == {"type", "path", "client"}  # no headers, no token
            assert not isinstance(stream.handshake, H11Handshake) and stream.handshake.accepted
            assert type(stream.connection._events).__name__ == "_ShortQueue"
            app_queue = stream.app_put.__self__._state  # type: ignore[union-attr]
            assert type(app_queue.data).__name__ == "_ShortQueue"
            h11 = stream.send.__self__  # type: ignore[attr-defined]
            assert type(h11.connection) is H11WSConnection and h11.connection.h11_connection is None

        # A burst larger than the app's queue (10) passes through the list that stands in for it.
        burst = [{"type": "cursor_update", "data": {"index": i}} for i in range(50)]
        await raw.stream.send_all(b"".join(_json_frame(raw, m["type"], m["data"]) for m in burst))
        await raw.stream.send_all(_json_frame(raw, "language_change", {"language": "html"}))
        await ada.wait_until(lambda: ada.language == "html")


@pytest.mark.parametrize("leaving", ["close frame", "end of stream", "reset"])
async def test_the_session_sees_a_peer_leave_however_it_goes(
    server: Server, client: httpx.AsyncClient, leaving: str
) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    url = socket_url(server.ws_url, created.id, str(candidate["token"]), protocol="json")
    async with json_client(server.ws_url, created.id, created.token) as ada:
        async with raw_websocket(url) as raw:
            await raw.stream.send_all(raw.encode(TextMessage(json.dumps({"type": "ping"}))))
            await _next_text(raw, "pong")
            if leaving == "close frame":
                await raw.stream.send_all(raw.encode(CloseConnection(code=1000)))
            elif leaving == "end of stream":
                await raw.stream.send_eof()
            else:
                await raw.reset()
            left = await ada.next_of("participant_left")
            assert left["data"]["id"] == candidate["id"]  # type: ignore[index]
