"""ASGI middleware: after the app closes a WebSocket, keep receiving until the client's close
reply (bounded), so the closing handshake completes and the TCP connection ends.

Why: Hypercorn hands each incoming message to the app through a bounded channel
(hypercorn/trio/task_group.py:56, `max_app_queue_size`, 10) and awaits the put. A client that
keeps sending while the app decides to close it (a flood refused with 4429, for one) fills that
channel; once the app has returned nothing reads it, so Hypercorn's reading task blocks in the
put (protocol/ws_stream.py:319) and never sees the client's close reply, and the app task itself
blocks in the `websocket.disconnect` put of its own clean-up (ws_stream.py:244-251, reached from
the `send(None)` after the app returns, task_group.py:41, via h11.py:150 and :291). The
connection then lingers until the client gives up. Receiving here empties the channel; the
frames are dropped unseen (repair 2 of `hypercorn_guard` already discards data frames once the
close frame is out), and the client's close reply arrives as `websocket.disconnect`, after
which Hypercorn closes the TCP connection.
Only a socket the app accepted and then closed itself waits, at most `timeout`; everything else
(and an app that raised or was cancelled) returns as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)


@dataclass
class _Handshake:
    accepted: bool = False
    closed_by_app: bool = False
    disconnected: bool = False


class CompleteCloseHandshake:
    """Wraps an ASGI app; HTTP and lifespan pass through untouched."""

    def __init__(self, app: ASGIFramework, timeout: float) -> None:
        self.app = app
        self.timeout = timeout  # for a client that never answers our close frame

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        handshake = _Handshake()

        async def watched_receive() -> ASGIReceiveEvent:
            message = await receive()
            handshake.disconnected |= message["type"] == "websocket.disconnect"
            return message

        async def watched_send(message: ASGISendEvent) -> None:
            handshake.accepted |= message["type"] == "websocket.accept"
            # A close before the accept is an HTTP 403 answer: there is no handshake to finish.
            handshake.closed_by_app |= handshake.accepted and message["type"] == "websocket.close"
            await send(message)

        await self.app(scope, watched_receive, watched_send)
        if handshake.closed_by_app and not handshake.disconnected:
            with trio.move_on_after(self.timeout):
                while (await receive())["type"] != "websocket.disconnect":
                    pass
