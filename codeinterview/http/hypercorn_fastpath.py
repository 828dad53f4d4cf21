"""Two shortcuts in Hypercorn's trio TCP server, for the per-frame path of live sessions.

Measured at interview load (bench/RESULTS.md), every outgoing WebSocket frame paid for a
`trio.Lock`, a shielded `CancelScope` and two scheduler rounds in `TCPServer.protocol_send`
(hypercorn/trio/tcp_server.py:82-90), and every read for a `fail_after` scope even when no read
timeout is configured (tcp_server.py:100-115): together about a fifth of the server's CPU.

1. `protocol_send`: when no other send holds the lock and the transport is a plain TCP socket,
   the bytes are written straight to the non-blocking socket. Nothing can interleave, since no
   checkpoint separates the lock check from the write. What the socket does not take at once
   (a full send buffer), and every error, goes through Hypercorn's own path, shielded so that a
   cancellation cannot leave half a frame on the wire.
2. `_read_data`: without a read timeout the loop reads without a scope per read.

Both are checked against the source of the versions `hypercorn_guard` supports only; any other version keeps
Hypercorn's own code (and logs that it did).
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import version
from typing import Any

import trio
from hypercorn.events import Closed, Event, RawData
from hypercorn.trio import tcp_server

from codeinterview.http.hypercorn_guard import SUPPORTED_VERSIONS

log = logging.getLogger(__name__)

_original_protocol_send = tcp_server.TCPServer.protocol_send
_original_read_data = tcp_server.TCPServer._read_data


async def _protocol_send(self: tcp_server.TCPServer, event: Event) -> None:
    stream: Any = self.stream
    if type(event) is not RawData or type(stream) is not trio.SocketStream or self.send_lock.locked():
        await _original_protocol_send(self, event)
        return
    data = event.data
    try:
        sent = os.write(stream.socket.fileno(), data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        sent = 0  # Hypercorn's path meets the same error and handles it
    if sent < len(data):
        with trio.CancelScope(shield=True):
            await _original_protocol_send(self, RawData(data=data[sent:]))


async def _read_data(self: tcp_server.TCPServer) -> None:
    if self.config.read_timeout is not None:
        await _original_read_data(self)
        return
    while True:
        try:
            data = await self.stream.receive_some(tcp_server.MAX_RECV)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            break
        await self.protocol.handle(RawData(bytes(data)))
        if data == b"":
            break
    await self.protocol.handle(Closed())


def install() -> None:
    installed = version("hypercorn")
    if not installed.startswith(SUPPORTED_VERSIONS):
        log.warning("Hypercorn %s is not one the fast path was checked against; not used", installed)
        return
    tcp_server.TCPServer.protocol_send = _protocol_send  # type: ignore[method-assign]
    tcp_server.TCPServer._read_data = _read_data  # type: ignore[method-assign]
