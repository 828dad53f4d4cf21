"""Hypercorn's WebSocket stream, repaired (codeinterview/http/hypercorn_guard.py): an oversized
message is refused with 1009 and the closing handshake still completes; a message of the other
kind after it neither ends the server nor disturbs anyone else."""

from __future__ import annotations

import httpx
import trio
from wsproto.events import BytesMessage, TextMessage

from tests.clients import json_client, socket_url
from tests.http.api import create_session
from tests.http.conftest import StartServer
from tests.http.raw import raw_websocket

MAX_MESSAGE_BYTES = 4096
CLOSE_SECONDS = 5  # milliseconds in fact; without the repair, never


async def test_oversized_message_is_refused_and_the_connection_ends(start_server: StartServer) -> None:
    server = await start_server(ws_max_message_bytes=MAX_MESSAGE_BYTES)
    async with server.client() as http:
        created = await create_session(http)
    url = socket_url(server.ws_url, created.id, created.token, protocol="json")
    async with raw_websocket(url) as raw:
        await raw.stream.send_all(raw.encode(TextMessage("x" * (MAX_MESSAGE_BYTES + 1))))
        # A message the client sent before it read the close frame, arriving with its close
        # reply: Hypercorn used to stop at the first and never read the second.
        in_flight = raw.encode(TextMessage('{"type":"ping"}'))
        with trio.fail_after(CLOSE_SECONDS):
            close = await raw.close_frame()
            assert close.code == 1009
            await raw.stream.send_all(in_flight + raw.reply_to_close(close))
            await raw.ended_by_server()


async def test_a_message_of_the_other_kind_after_an_oversized_one(start_server: StartServer) -> None:
    """Hypercorn's message buffer kept the refused text message; a binary one written into it
    raised TypeError outside any handler, which ended the server process."""
    server = await start_server(ws_max_message_bytes=MAX_MESSAGE_BYTES)
    async with server.client() as http:
        created = await create_session(http)
        async with json_client(server.ws_url, created.id, created.token) as bystander:
            url = socket_url(server.ws_url, created.id, created.token, protocol="json")
            async with raw_websocket(url) as raw:
                oversized = raw.encode(TextMessage("x" * (MAX_MESSAGE_BYTES + 1)))
                await raw.stream.send_all(oversized + raw.encode(BytesMessage(b"\x00\x00\x01\x00")))
                with trio.fail_after(CLOSE_SECONDS):
                    close = await raw.close_frame()
                    assert close.code == 1009
                    await raw.stream.send_all(raw.reply_to_close(close))
                    await raw.ended_by_server()
            await bystander.send("ping")
            await bystander.next_of("pong")
        await _still_serving(http)


async def _still_serving(http: httpx.AsyncClient) -> None:
    health = await http.get("/api/v1/health")
    assert health.status_code == 200, health.text
