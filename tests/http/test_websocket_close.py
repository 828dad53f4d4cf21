"""A session socket closed while its client is still sending (codeinterview/http/socket.py,
`Socket.finish`): the closing handshake completes and the server ends the TCP connection, also
when Hypercorn's queue of messages for the app was full at the time, and also when the client
never answers."""

from __future__ import annotations

import trio
from wsproto.events import BytesMessage

from tests.clients import socket_url
from tests.http.api import create_session
from tests.http.conftest import Server, StartServer
from tests.http.raw import RawWebSocket, raw_websocket

FLOOD = 100  # frames; Hypercorn's queue for the app holds 10
RATE = "5/minute"  # the sixth frame is refused: 4429, while most of the flood is still queued
CLOSE_SECONDS = 5
QUERY_AWARENESS = b"\x03"


async def _flood(raw: RawWebSocket) -> None:
    flood = b"".join(raw.encode(BytesMessage(QUERY_AWARENESS)) for _ in range(FLOOD))
    await raw.stream.send_all(flood)


async def _yjs_url(server: Server) -> str:
    async with server.client() as http:
        created = await create_session(http)
    return socket_url(server.ws_url, created.id, created.token, protocol="yjs")


async def test_close_reply_ends_the_connection_after_a_flood(start_server: StartServer) -> None:
    server = await start_server(rate_limit_ws_messages=RATE)
    async with raw_websocket(await _yjs_url(server)) as raw:
        await _flood(raw)
        with trio.fail_after(CLOSE_SECONDS):
            close = await raw.close_frame()
            assert (close.code, close.reason) == (4429, "message rate exceeded")
            await raw.stream.send_all(raw.reply_to_close(close))
            await raw.ended_by_server()


async def test_a_client_that_never_answers_the_close_is_let_go(start_server: StartServer) -> None:
    server = await start_server(rate_limit_ws_messages=RATE, ws_close_timeout_seconds=0.2)
    async with raw_websocket(await _yjs_url(server)) as raw:
        await _flood(raw)
        with trio.fail_after(CLOSE_SECONDS):
            assert (await raw.close_frame()).code == 4429
            await raw.ended_by_server()  # no close reply: the server gives up on it
