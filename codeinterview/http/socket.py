"""WebSocket connections to the session endpoint, spoken to in raw ASGI messages.

Session sockets bypass Quart's WebSocket wrapper. That wrapper gives every connection two more
tasks, a queue hop and a signal dispatch per message, and a request context; at interview load
this was most of the server's CPU per frame and about half of its live objects (which every
full garbage-collection pass walks, stalling every session). Everything else is served by Quart.

An idle connection waits in its reader for as long as it is open, so every coroutine on that
wait, and everything their frames refer to, is memory held per connection: the middleware
below hands its handler's coroutine straight to its caller, a `Socket` keeps only the ASGI
scope (which the server holds anyway) and parses headers and query arguments when asked, and
the reader awaits `next_message` itself (see `frame_of`).

After closing a socket we keep receiving until the client's close reply (`finish`), because
Hypercorn hands incoming messages to the app through a bounded queue (hypercorn/trio/
task_group.py:56, `max_app_queue_size`, 10) and awaits the put (protocol/ws_stream.py:319). A
client that keeps sending while we close it (a flood refused with 4429) fills that queue; once
nothing reads it, Hypercorn's reading task blocks in the put and never sees the close reply,
and the connection lingers until the client gives up. Reading empties the queue; the frames are
dropped unseen (`hypercorn_guard` discards data frames once the close frame is out), and the
close reply arrives as `websocket.disconnect`, after which Hypercorn ends the TCP connection.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import trio

from codeinterview.http.hypercorn_fastpath import DirectWrite, direct_write
from codeinterview.http.hypercorn_lean import release_handshake

AsgiMessage = dict[str, Any]
AsgiReceive = Callable[[], Awaitable[AsgiMessage]]
AsgiSend = Callable[[AsgiMessage], Awaitable[None]]
AsgiApp = Callable[[Any, Any, Any], Awaitable[None]]  # scope, receive, send in any typing
SocketHandler = Callable[["Socket", str], Awaitable[None]]

SESSION_PATH = re.compile(r"/ws/sessions/(?P<session_id>[^/]+)")
_KEPT_IN_SCOPE = ("type", "path", "client")  # what a settled socket's scope keeps


class SocketClosed(Exception):
    """The peer has gone (the ASGI server reported the disconnect)."""


class Socket:
    """One accepted-or-pending WebSocket: headers, query arguments, frames in and out."""

    __slots__ = ("_scope", "_send", "closed_by_us", "next_message", "peer_gone")

    def __init__(self, scope: MutableMapping[str, Any], receive: AsgiReceive, send: AsgiSend) -> None:
        self._scope = scope
        self._send = send
        self.closed_by_us = False
        self.peer_gone = False
        # The ASGI receive itself: `socket.frame_of(await socket.next_message())` reads a
        # frame with no coroutine of ours between the reader and the server.
        self.next_message = receive

    @property
    def headers(self) -> dict[str, str]:
        """Request headers, names lower-cased (read during the handshake only, so not kept)."""
        return _first_values(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in self._scope["headers"]
        )

    @property
    def args(self) -> dict[str, str]:
        """Query arguments (read during the handshake only, so not kept)."""
        return _first_values(parse_qsl(self._scope["query_string"].decode("latin-1"), keep_blank_values=True))

    @property
    def remote_addr(self) -> str | None:
        client = self._scope.get("client")
        return client[0] if client else None

    async def accept(self) -> None:
        message = await self.next_message()
        if message["type"] != "websocket.connect":
            self.peer_gone = True
            raise SocketClosed()
        await self._send({"type": "websocket.accept"})

    def settle(self) -> None:
        """Let go of what only the handshake needed, as the connection settles down to wait: of
        the scope, all but its type, path and client address (about 1 KB with the request
        headers, and the token in the query string), and the server's handshake state
        (`hypercorn_lean`). Nothing reads them later: Hypercorn's access log, the one other
        reader of a WebSocket's scope, is off (server.py)."""
        kept = {key: self._scope[key] for key in _KEPT_IN_SCOPE if key in self._scope}
        self._scope.clear()  # the same dict Hypercorn holds: cleared, not replaced
        self._scope.update(kept)
        release_handshake(self._send)

    async def receive(self) -> bytes | str:
        return self.frame_of(await self.next_message())

    def frame_of(self, message: AsgiMessage) -> bytes | str:
        """The frame in an ASGI message; `SocketClosed` if the message says the peer has gone."""
        if message["type"] != "websocket.receive":
            self.peer_gone = True
            raise SocketClosed()
        data: bytes | None = message.get("bytes")
        return data if data is not None else message["text"]

    async def send(self, data: bytes | str) -> None:
        if isinstance(data, bytes):
            await self._send({"type": "websocket.send", "bytes": data})
        else:
            await self._send({"type": "websocket.send", "text": data})

    def direct_write(self) -> DirectWrite | None:
        """The server's direct path for frames (see `hypercorn_fastpath`), if it has one."""
        return direct_write(self._send)

    async def close(self, code: int, reason: str) -> None:
        self.closed_by_us = True  # before any checkpoint: `Connection.close` relies on it
        await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def finish(self, timeout: float) -> None:
        """After our close, read (and drop) frames until the client's close reply, at most
        `timeout` seconds (see the module's docstring)."""
        if not self.closed_by_us or self.peer_gone:
            return
        with trio.move_on_after(timeout):
            while (await self.next_message())["type"] != "websocket.disconnect":
                pass


def _first_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Like Quart's MultiDicts' `get`: the first value of a repeated name wins."""
    values: dict[str, str] = {}
    for name, value in pairs:
        values.setdefault(name, value)
    return values


class SessionSockets:
    """ASGI middleware: WebSockets to `/ws/sessions/{id}` go to `handler`, the rest to `app`.

    Not a coroutine function: it returns the handler's (or the app's) coroutine for its caller
    to await, so no frame of its own stays on every open connection's stack."""

    def __init__(self, app: AsgiApp, handler: SocketHandler) -> None:
        self._app = app
        self._handler = handler

    def __call__(self, scope: dict[str, Any], receive: AsgiReceive, send: AsgiSend) -> Awaitable[None]:
        if scope["type"] == "websocket":
            match = SESSION_PATH.fullmatch(scope["path"])
            if match is not None:
                return self._handler(Socket(scope, receive, send), match["session_id"])
        return self._app(scope, receive, send)
