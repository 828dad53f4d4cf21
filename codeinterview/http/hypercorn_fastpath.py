"""Shortcuts in Hypercorn's trio TCP server, for the per-frame path of live sessions.

Measured at interview load (bench/RESULTS.md), every outgoing WebSocket frame paid for a
`trio.Lock`, a shielded `CancelScope` and two scheduler rounds in `TCPServer.protocol_send`
(hypercorn/trio/tcp_server.py:82-90), and every read for a `fail_after` scope even when no read
timeout is configured (tcp_server.py:100-115): together about a fifth of the server's CPU.

1. `protocol_send`: when no other send holds the lock and the transport is a plain TCP socket,
   the bytes are written straight to the non-blocking socket. Nothing can interleave, since no
   checkpoint separates the lock check from the write. What the socket does not take at once
   (a full send buffer), and every error, goes through Hypercorn's own path, shielded so that a
   cancellation cannot leave half a frame on the wire.
2. `_read_data`: without a read timeout the loop reads without a scope per read, from the
   socket itself and waiting for it to be readable only when it has nothing to give. That is
   what `SocketStream.receive_some` does, without its five coroutine frames, which every idle
   connection kept on its wait (about 1.2 KB each, tracemalloc).
3. `DirectWrite`: a session actor hands a frame for an idle connection straight to its socket
   (a scheduler round less per frame and receiver, the largest single cost of the fan-out). It
   writes only when the connection is open, no send holds the lock and nothing is left over
   from an earlier direct write, so the bytes on the wire keep their order. What the socket does
   not take at once stays with the TCP server as a tail that every later send (and `flush`)
   puts first, so nothing can come between the two halves of a frame.

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
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
from hypercorn.trio import tcp_server
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, TextMessage

from codeinterview.actors.messages import Written
from codeinterview.http.hypercorn_guard import SUPPORTED_VERSIONS

log = logging.getLogger(__name__)

_original_protocol_send = tcp_server.TCPServer.protocol_send
_original_read_data = tcp_server.TCPServer._read_data


_TAIL = "_codeinterview_tail"  # the unsent end of a direct write, on the TCPServer


async def _protocol_send(self: tcp_server.TCPServer, event: Event) -> None:
    stream: Any = self.stream
    if type(event) is not RawData or type(stream) is not trio.SocketStream or self.send_lock.locked():
        await _original_protocol_send(self, event)
        return
    data = event.data
    tail = self.__dict__.pop(_TAIL, None)
    if tail is not None:
        data = tail + data
    sent = _write_some(stream, data) or 0  # after an error, Hypercorn's path meets it too
    if sent < len(data):
        with trio.CancelScope(shield=True):
            await _original_protocol_send(self, RawData(data=data[sent:]))


def _write_some(stream: trio.SocketStream, data: bytes) -> int | None:
    """What the non-blocking socket takes of `data` now; `None` on an error other than a
    full buffer. The descriptor is looked up per write: once closed it is -1, never reused."""
    try:
        return os.write(stream.socket.fileno(), data)
    except (BlockingIOError, InterruptedError):
        return 0
    except OSError:
        return None


def tcp_stream(tcp: tcp_server.TCPServer) -> Any:
    return tcp.stream  # a SocketStream, or an SSLStream over one


class DirectWrite:
    """Sends one connection's frames from any task, without waiting, when that is safe."""

    __slots__ = ("_stream", "_tcp")

    def __init__(self, stream: WSStream, tcp: tcp_server.TCPServer) -> None:
        self._stream = stream
        self._tcp = tcp

    def __call__(self, frame: bytes | str) -> Written:
        stream, tcp = self._stream, self._tcp
        if (
            stream.closed
            or stream.state is not ASGIWebsocketState.CONNECTED
            or stream.connection.state is not ConnectionState.OPEN
            or tcp.send_lock.locked()
            or _TAIL in tcp.__dict__
        ):
            return Written.NOTHING
        event = BytesMessage(data=frame) if isinstance(frame, bytes) else TextMessage(data=frame)
        data = stream.connection.send(event)
        sent = _write_some(tcp_stream(tcp), data)
        if sent is None:
            return Written.NOTHING  # the usual path meets the same error and handles it
        if sent == len(data):
            return Written.ALL
        tcp.__dict__[_TAIL] = data[sent:]
        return Written.PART

    async def flush(self) -> None:
        """Send what a direct write left over (nothing, if another send already has)."""
        await self._tcp.protocol_send(RawData(data=b""))


def h11_websocket(asgi_send: Any) -> tuple[WSStream, H11Protocol] | None:
    """The WebSocket stream and the HTTP/1.1 connection behind an ASGI `send` that is
    Hypercorn's own over HTTP/1.1; `None` for anything else (HTTP/2, another server)."""
    stream = getattr(asgi_send, "__self__", None)
    if type(stream) is not WSStream:
        return None
    h11 = getattr(stream.send, "__self__", None)
    return (stream, h11) if type(h11) is H11Protocol else None


def direct_write(asgi_send: Any) -> DirectWrite | None:
    """The direct path for a WebSocket whose ASGI `send` is Hypercorn's own, over HTTP/1.1
    (over HTTP/2 a frame goes inside the connection's own framing) and plain TCP with no
    compression; `None` otherwise (TLS, HTTP/2, another server, not installed)."""
    found = h11_websocket(asgi_send)
    if not _installed or found is None:
        return None
    stream, h11 = found
    tcp = getattr(h11.send, "__self__", None)
    if type(tcp) is not tcp_server.TCPServer or type(tcp_stream(tcp)) is not trio.SocketStream:
        return None
    if getattr(stream.connection, "_proto", None) is None or stream.connection._proto.extensions:
        return None  # permessage-deflate keeps state per message: wsproto's path only
    return DirectWrite(stream, tcp)


async def _read_data(self: tcp_server.TCPServer) -> None:
    stream: Any = self.stream
    if self.config.read_timeout is not None or type(stream) is not trio.SocketStream:
        await _original_read_data(self)
        return
    sock = stream.socket._sock  # type: ignore[attr-defined]  # the standard library's socket
    waited = False
    while True:
        data: bytes | None
        try:
            data = sock.recv(tcp_server.MAX_RECV)
        except BlockingIOError:
            # Waited for below: awaiting inside this handler would keep the exception and its
            # traceback alive for as long as the connection is idle (about 500 bytes).
            data = None
        except OSError:
            break  # closed (EBADF) or reset by the peer: trio's stream would raise either
        if data is None:
            try:
                await trio.lowlevel.wait_readable(sock)
            except trio.ClosedResourceError:
                break  # closed by another task (the server closing the connection)
            waited = True
            continue
        if not waited:
            await trio.lowlevel.checkpoint()  # data was there at once: let the others run first
        waited = False
        await self.protocol.handle(RawData(data))
        if not data:
            break
        del data  # not held while the connection waits
    await self.protocol.handle(Closed())


_installed = False


def install() -> None:
    global _installed
    installed = version("hypercorn")
    if not installed.startswith(SUPPORTED_VERSIONS):
        log.warning("Hypercorn %s is not one the fast path was checked against; not used", installed)
        return
    tcp_server.TCPServer.protocol_send = _protocol_send  # type: ignore[method-assign]
    tcp_server.TCPServer._read_data = _read_data  # type: ignore[method-assign]
    _installed = True
