"""A lean WebSocket client on a raw trio socket: just enough RFC 6455 for a load generator.

Why not trio-websocket: its per-connection reader task, memory channel and wsproto state
machine cost several times more CPU per message than the few lines needed here, and the
generator shares two cores with the server under test.

Client frames use an all-zero masking key. RFC 6455 asks for an unpredictable key (to defeat
cache poisoning through intermediaries); servers cannot and do not check it, and a zero key
turns masking into a no-op, saving a Python-level XOR over every payload.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

import trio

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_ZERO_MASK = b"\x00\x00\x00\x00"


class HandshakeError(Exception):
    pass


class Closed(Exception):
    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


def encode_frame(payload: bytes, opcode: int = OP_BINARY) -> bytes:
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + struct.pack("!H", n)
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + struct.pack("!Q", n)
    return header + _ZERO_MASK + payload


class WebSocket:
    """One client connection. `on_message(payload, opcode)` is called for each data message,
    from the task that runs `read_loop`; sends may come from any task (a lock serialises them).
    """

    def __init__(self, stream: trio.SocketStream, leftover: bytes) -> None:
        self.stream = stream
        # The non-blocking stdlib socket under trio's: the hot paths call send/recv on it
        # directly and fall back to trio only to wait, which saves most of trio's per-call cost.
        self.raw: socket.socket = stream.socket._sock  # type: ignore[attr-defined]
        self._buffer = bytearray(leftover)
        self._lock = trio.StrictFIFOLock()
        self._pending = bytearray()  # bytes `send_now` could not write yet
        self._draining = False
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0
        self.closed: Closed | None = None

    async def send(self, payload: bytes, opcode: int = OP_BINARY) -> None:
        await self.send_raw(encode_frame(payload, opcode))

    async def send_raw(self, frame: bytes) -> None:
        async with self._lock:
            if self._pending:
                self._pending += frame
                return
            await self.stream.send_all(frame)

    def send_now(self, payload: bytes, nursery: trio.Nursery) -> None:
        """Send without yielding to the scheduler; what the kernel won't take now is queued
        and written by a task (order is kept: later sends queue behind it)."""
        frame = encode_frame(payload)
        if self._pending or self._lock.locked():
            self._pending += frame
        else:
            try:
                sent = self.raw.send(frame)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                raise trio.BrokenResourceError(str(error)) from error
            if sent == len(frame):
                return
            self._pending += frame[sent:]
        if not self._draining:
            self._draining = True
            nursery.start_soon(self._drain)

    async def _drain(self) -> None:
        try:
            async with self._lock:
                while self._pending:
                    chunk, self._pending = bytes(self._pending), bytearray()
                    await self.stream.send_all(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            self._draining = False

    async def close(self, code: int = 1000) -> None:
        try:
            with trio.move_on_after(1):
                await self.send(struct.pack("!H", code), OP_CLOSE)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        await self.stream.aclose()

    def _parse(
        self, on_message: Callable[[bytes, int], bytes | None], replies: list[bytes]
    ) -> list[tuple[int, bytes]]:
        """Consume whole frames from the buffer; returns control frames to answer.

        Whatever `on_message` returns (a payload) is appended to `replies` for the caller to send.
        """
        buf = self._buffer
        size = len(buf)
        pos = 0
        control: list[tuple[int, bytes]] = []
        while size - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            head = pos + 2
            if length == 126:
                if size - head < 2:
                    break
                length = (buf[head] << 8) | buf[head + 1]
                head += 2
            elif length == 127:
                if size - head < 8:
                    break
                (length,) = struct.unpack_from("!Q", buf, head)
                head += 8
            if buf[pos + 1] & 0x80:  # a masked server frame: not expected, but handle it
                mask = bytes(buf[head : head + 4])
                head += 4
            else:
                mask = None
            end = head + length
            if end > size:
                break
            payload = bytes(buf[head:end])
            if mask is not None:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            pos = end
            opcode = b0 & 0x0F
            if opcode >= 0x8:
                control.append((opcode, payload))
                continue
            if not b0 & 0x80:  # fragment
                if opcode != OP_CONT:
                    self._fragment_opcode = opcode
                self._fragments.append(payload)
                continue
            if opcode == OP_CONT:
                self._fragments.append(payload)
                payload = b"".join(self._fragments)
                opcode = self._fragment_opcode
                self._fragments = []
            reply = on_message(payload, opcode)
            if reply is not None:
                replies.append(reply)
        if pos:
            del buf[:pos]
        return control

    async def read_loop(self, on_message: Callable[[bytes, int], bytes | None]) -> Closed:
        """Read until the connection closes; returns why. Replies `on_message` returns are sent."""
        replies: list[bytes] = []
        spins = 0
        try:
            while True:
                if self._buffer:
                    control = self._parse(on_message, replies)
                    if replies:
                        frames = b"".join(encode_frame(r) for r in replies)
                        replies.clear()
                        await self.send_raw(frames)
                    for opcode, payload in control:
                        if opcode == OP_PING:
                            await self.send(payload, OP_PONG)
                        elif opcode == OP_CLOSE:
                            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                            self.closed = Closed(code, payload[2:].decode(errors="replace"))
                            try:
                                await self.send(payload[:2], OP_CLOSE)
                            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                                pass
                            return self.closed
                try:
                    data = self.raw.recv(262144)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(self.raw)
                    continue
                if not data:
                    self.closed = Closed(1006, "eof")
                    return self.closed
                self._buffer += data
                spins += 1
                if spins % 16 == 0:  # a connection that never runs dry must not starve the rest
                    await trio.lowlevel.checkpoint()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
            self.closed = Closed(1006, str(error))
            return self.closed

    async def receive_one(self) -> tuple[bytes, int]:
        """Read the next data message (for set-up code; the hot path uses `read_loop`)."""
        got: list[tuple[bytes, int]] = []

        def keep(payload: bytes, opcode: int) -> None:
            got.append((payload, opcode))

        while not got:
            control = self._parse(keep, [])
            for opcode, payload in control:
                if opcode == OP_PING:
                    await self.send(payload, OP_PONG)
                elif opcode == OP_CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    raise Closed(code, payload[2:].decode(errors="replace"))
            if got:
                break
            data = await self.stream.receive_some(65536)
            if not data:
                raise Closed(1006, "eof")
            self._buffer += data
        first, *rest = got
        if rest:  # put back what was parsed beyond the first message
            self._buffer[:0] = b"".join(encode_server_frame(p, o) for p, o in rest)
        return first


def encode_server_frame(payload: bytes, opcode: int) -> bytes:
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 126)) + struct.pack("!H", n)
    else:
        header = bytes((0x80 | opcode, 127)) + struct.pack("!Q", n)
    return header + payload


async def connect(url: str, *, timeout: float = 15.0) -> WebSocket:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    with trio.fail_after(timeout):
        stream = await trio.open_tcp_stream(host, port)
        try:
            await stream.send_all(request)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    raise HandshakeError(f"connection closed during handshake: {data[:200]!r}")
                data += chunk
                if len(data) > 65536:
                    raise HandshakeError("handshake response too large")
        except BaseException:
            await stream.aclose()
            raise
    head, _, leftover = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status_line + b" ":
        await stream.aclose()
        raise HandshakeError(f"handshake refused: {status_line.decode(errors='replace')}")
    return WebSocket(stream, leftover)
