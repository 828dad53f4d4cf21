"""The app closes a WebSocket whose client is still sending (codeinterview/http/websocket_close.py):
the closing handshake completes and the server ends the TCP connection, also when Hypercorn's
queue of messages for the app was full at the time, and also when the client never answers."""

from __future__ import annotations

from collections.abc import Callable

import trio
import trio.testing
from quart import websocket
from quart_trio import QuartTrio
from wsproto.events import TextMessage

from tests.http.conftest import StartServer
from tests.http.raw import raw_websocket

FLOOD = 100  # messages; Hypercorn's queue for the app holds 10 (Quart's own another 10)
CLOSE_SECONDS = 5


def closes_when_released(release: trio.Event) -> Callable[[QuartTrio], None]:
    """A test-only route that reads nothing until released, then closes with 4429: the shape of
    a session refusing a client that floods it."""

    def configure(app: QuartTrio) -> None:
        @app.websocket("/test/closes-when-released")
        async def route() -> None:
            await websocket.accept()
            await release.wait()
            await websocket.close(4429, "too slow to keep up")

    return configure


async def test_close_reply_ends_the_connection_after_a_flood(start_server: StartServer) -> None:
    release = trio.Event()
    server = await start_server(configure=closes_when_released(release))
    async with raw_websocket(f"{server.ws_url}/test/closes-when-released") as raw:
        flood = b"".join(raw.encode(TextMessage(f"message {number}")) for number in range(FLOOD))
        await raw.stream.send_all(flood)
        await trio.testing.wait_all_tasks_blocked()  # Hypercorn's reader waits on a full queue
        release.set()
        with trio.fail_after(CLOSE_SECONDS):
            close = await raw.close_frame()
            assert (close.code, close.reason) == (4429, "too slow to keep up")
            await raw.stream.send_all(raw.reply_to_close(close))
            await raw.ended_by_server()


async def test_a_client_that_never_answers_the_close_is_let_go(start_server: StartServer) -> None:
    release = trio.Event()
    server = await start_server(configure=closes_when_released(release), ws_close_timeout_seconds=0.2)
    async with raw_websocket(f"{server.ws_url}/test/closes-when-released") as raw:
        flood = b"".join(raw.encode(TextMessage(f"message {number}")) for number in range(FLOOD))
        await raw.stream.send_all(flood)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
        with trio.fail_after(CLOSE_SECONDS):
            assert (await raw.close_frame()).code == 4429
            await raw.ended_by_server()  # no close reply: the server gives up on it
