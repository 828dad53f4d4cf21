"""WebSocket connections to the session endpoint, spoken to in raw ASGI messages.

Session sockets bypass Quart's WebSocket wrapper. That wrapper gives every connection two more
tasks, a queue hop and a signal dispatch per message, and a request context; at interview load
this was most of the server's CPU per frame and about half of its live objects (which every
full garbage-collection pass walks, stalling every session). Everything else is served by Quart.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

AsgiMessage = dict[str, Any]
AsgiReceive = Callable[[], Awaitable[AsgiMessage]]
AsgiSend = Callable[[AsgiMessage], Awaitable[None]]
AsgiApp = Callable[[Any, Any, Any], Awaitable[None]]  # scope, receive, send in any typing
SocketHandler = Callable[["Socket", str], Awaitable[None]]

SESSION_PATH = re.compile(r"/ws/sessions/(?P<session_id>[^/]+)")


class SocketClosed(Exception):
    """The peer has gone (the ASGI server reported the disconnect)."""


class Socket:
    """One accepted-or-pending WebSocket: headers, query arguments, frames in and out."""

    __slots__ = ("_receive", "_send", "args", "headers", "remote_addr")

    def __init__(self, scope: Mapping[str, Any], receive: AsgiReceive, send: AsgiSend) -> None:
        self._receive = receive
        self._send = send
        self.headers = _first_values(
            (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in scope["headers"]
        )
        self.args = _first_values(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        client = scope.get("client")
        self.remote_addr: str | None = client[0] if client else None

    async def accept(self) -> None:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            raise SocketClosed()
        await self._send({"type": "websocket.accept"})

    async def receive(self) -> bytes | str:
        message = await self._receive()
        if message["type"] != "websocket.receive":
            raise SocketClosed()
        data: bytes | None = message.get("bytes")
        return data if data is not None else message["text"]

    async def send(self, data: bytes | str) -> None:
        if isinstance(data, bytes):
            await self._send({"type": "websocket.send", "bytes": data})
        else:
            await self._send({"type": "websocket.send", "text": data})

    async def close(self, code: int, reason: str) -> None:
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


def _first_values(pairs: Any) -> dict[str, str]:
    """Like Quart's MultiDicts' `get`: the first value of a repeated name wins."""
    values: dict[str, str] = {}
    for name, value in pairs:
        values.setdefault(name, value)
    return values


class SessionSockets:
    """ASGI middleware: WebSockets to `/ws/sessions/{id}` go to `handler`, the rest to `app`."""

    def __init__(self, app: AsgiApp, handler: SocketHandler) -> None:
        self._app = app
        self._handler = handler

    async def __call__(self, scope: dict[str, Any], receive: AsgiReceive, send: AsgiSend) -> None:
        if scope["type"] == "websocket":
            match = SESSION_PATH.fullmatch(scope["path"])
            if match is not None:
                await self._handler(Socket(scope, receive, send), match["session_id"])
                return
        await self._app(scope, receive, send)
