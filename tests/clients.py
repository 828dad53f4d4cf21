"""Real WebSocket clients for tests: a y-websocket-protocol client on a pycrdt Doc, and a
JSON-events client. Both wait on what they receive (never on the clock)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio
from pycrdt import (
    Doc,
    Map,
    Text,
    TransactionEvent,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

WAIT_SECONDS = 10


class YjsClient:
    """Behaves like the npm y-websocket provider: step 1 on open, updates as they happen."""

    def __init__(self, socket: WebSocketConnection, doc: Doc | None = None) -> None:
        self.socket = socket
        self.doc = doc or Doc()
        self.text = self.doc.get("code", type=Text)
        self.meta = self.doc.get("meta", type=Map)
        self.synced = False
        self.awareness: list[bytes] = []
        self._pending: list[bytes] = []
        self._remote = False
        self._subscription = self.doc.observe(self._on_transaction)

    def _on_transaction(self, event: TransactionEvent) -> None:
        if not self._remote:
            self._pending.append(create_update_message(event.update))

    async def start(self) -> None:
        await self.socket.send_message(create_sync_message(self.doc))

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for message in pending:
            await self.socket.send_message(message)

    async def insert(self, index: int, content: str) -> None:
        self.text.insert(index, content)
        await self.flush()

    async def send_awareness(self, client_id: int, clock: int, state: dict[str, object] | None) -> None:
        encoded = json.dumps(state).encode()
        payload = bytes([1]) + _varuint(client_id) + _varuint(clock) + _varuint(len(encoded)) + encoded
        await self.socket.send_message(create_awareness_message(payload))

    async def receive_one(self) -> None:
        await self.handle(await self.socket.get_message())

    async def handle(self, message: bytes | str) -> None:
        assert isinstance(message, bytes), f"binary client got a text frame: {message!r}"
        if message[0] == YMessageType.SYNC:
            self._remote = True
            try:
                reply = handle_sync_message(message[1:], self.doc)
            finally:
                self._remote = False
            if message[1] == YSyncMessageType.SYNC_STEP2:
                self.synced = True
            if reply is not None:
                await self.socket.send_message(reply)
        elif message[0] == YMessageType.AWARENESS:
            self.awareness.append(message)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        with trio.fail_after(WAIT_SECONDS):
            while not condition():
                await self.receive_one()

    @property
    def code(self) -> str:
        return str(self.text)


class JsonClient:
    def __init__(self, socket: WebSocketConnection) -> None:
        self.socket = socket
        self.events: list[dict[str, object]] = []
        self.code: str | None = None
        self.language: str | None = None

    async def send(self, kind: str, data: dict[str, object] | None = None) -> None:
        message: dict[str, object] = {"type": kind}
        if data is not None:
            message["data"] = data
        await self.socket.send_message(json.dumps(message))

    async def receive_one(self) -> dict[str, object]:
        message = await self.socket.get_message()
        assert isinstance(message, str), f"JSON client got a binary frame: {message!r}"
        event: dict[str, object] = json.loads(message)
        self.events.append(event)
        data = event.get("data")
        if isinstance(data, dict):
            if event["type"] in ("session_state", "code_update"):
                self.code = str(data["code"])
            if event["type"] in ("session_state", "language_change"):
                self.language = str(data["language"])
        return event

    async def next_of(self, kind: str) -> dict[str, object]:
        with trio.fail_after(WAIT_SECONDS):
            while True:
                event = await self.receive_one()
                if event["type"] == kind:
                    return event

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        with trio.fail_after(WAIT_SECONDS):
            while not condition():
                await self.receive_one()


def socket_url(ws_base: str, session_id: str, token: str | None, **params: str) -> str:
    query = {**({"token": token} if token else {}), **params}
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    return f"{ws_base}/ws/sessions/{session_id}" + (f"?{suffix}" if suffix else "")


@asynccontextmanager
async def yjs_client(ws_base: str, session_id: str, token: str, doc: Doc | None = None) -> AsyncIterator[YjsClient]:
    async with open_websocket_url(socket_url(ws_base, session_id, token)) as socket:
        client = YjsClient(socket, doc)
        await client.start()
        await client.wait_until(lambda: client.synced)
        yield client


@asynccontextmanager
async def json_client(ws_base: str, session_id: str, token: str) -> AsyncIterator[JsonClient]:
    async with open_websocket_url(socket_url(ws_base, session_id, token, protocol="json")) as socket:
        client = JsonClient(socket)
        await client.next_of("session_state")
        yield client


async def closed_with(socket: WebSocketConnection) -> tuple[int, str]:
    """Read until the server closes; return its close code and reason."""
    with trio.fail_after(WAIT_SECONDS):
        try:
            while True:
                await socket.get_message()
        except ConnectionClosed as closed:
            return closed.reason.code, closed.reason.reason or ""


def _varuint(number: int) -> bytes:
    out = bytearray()
    while number > 127:
        out.append(0x80 | (number & 0x7F))
        number >>= 7
    out.append(number)
    return bytes(out)
