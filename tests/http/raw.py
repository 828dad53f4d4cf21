"""Clients below the polite ones: WebSocket frames (wsproto) and HTTP/1.1 messages (h11) over a
bare trio TCP stream, so a test decides exactly which bytes go out in which write, and sees
whether the server ends the TCP connection."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Event, Message, Request


class RawWebSocket:
    def __init__(self, stream: trio.SocketStream, ws: WSConnection) -> None:
        self.stream = stream
        self.ws = ws
        self._events: list[Event] = []

    def encode(self, message: Message) -> bytes:  # type: ignore[type-arg]
        """A frame to send now or later: wsproto refuses to encode one once a close arrived."""
        return self.ws.send(message)

    async def next_event(self) -> Event:
        while not self._events:
            data = await self.stream.receive_some()
            self.ws.receive_data(data or None)
            self._events.extend(self.ws.events())
        return self._events.pop(0)

    async def close_frame(self) -> CloseConnection:
        """Skip messages until the server's close frame."""
        while not isinstance(event := await self.next_event(), CloseConnection):
            pass
        return event

    def reply_to_close(self, close: CloseConnection) -> bytes:
        return self.ws.send(close.response())

    async def reset(self) -> None:
        """End the TCP connection with a reset (RST), as a crashed peer or a middlebox would."""
        self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()

    async def ended_by_server(self) -> None:
        """Return once the server has ended the TCP connection (its FIN, not a reset)."""
        while await self.stream.receive_some():
            pass


@asynccontextmanager
async def raw_websocket(url: str) -> AsyncIterator[RawWebSocket]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    async with await trio.open_tcp_stream(parts.hostname, parts.port) as stream:
        ws = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(ws.send(Request(host=f"{parts.hostname}:{parts.port}", target=target)))
        raw = RawWebSocket(stream, ws)
        accepted = await raw.next_event()
        assert isinstance(accepted, AcceptConnection), accepted
        yield raw


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


class RawHttp:
    """One keep-alive HTTP/1.1 connection; a request's head and body can go out separately."""

    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        self.stream = stream
        self.host = host
        self.h11 = h11.Connection(h11.CLIENT)

    async def send_head(self, method: str, target: str, headers: list[tuple[str, str]]) -> None:
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        head = h11.Request(method=method, target=target, headers=[("Host", self.host), *headers])
        await self.stream.send_all(self.h11.send(head))

    async def send_body(self, body: bytes) -> None:
        await self.stream.send_all(self.h11.send(h11.Data(data=body)) + self.h11.send(h11.EndOfMessage()))

    async def request(self, method: str, target: str) -> Answer:
        await self.send_head(method, target, [])
        await self.stream.send_all(self.h11.send(h11.EndOfMessage()))
        return await self.answer()

    async def answer(self) -> Answer:
        status, headers, body = 0, {}, bytearray()
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.stream.receive_some())
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, dict(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return Answer(status, headers, bytes(body))
            else:
                raise AssertionError(f"unexpected {event!r}")


@asynccontextmanager
async def raw_http(base_url: str) -> AsyncIterator[RawHttp]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    async with await trio.open_tcp_stream(parts.hostname, parts.port) as stream:
        yield RawHttp(stream, parts.netloc)
