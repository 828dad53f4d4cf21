"""Helpers shared by the fault and fuzz tests: metrics, polling, raw sockets, process memory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx
import trio
from pycrdt import Doc, create_sync_message
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    RejectConnection,
    Request,
    TextMessage,
)

# These tests flood on purpose; rate limits would (rightly) refuse them. `Settings` ignores
# unknown fields and the environment unknown variables, so this is harmless before they exist.
NO_RATE_LIMITS: dict[str, object] = {"rate_limits_enabled": False}
NO_RATE_LIMITS_ENV: dict[str, str] = {"rate_limits_enabled": "false"}

POLL_SECONDS = 0.02


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text: sample name (labels included, if any) to value."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


async def metric(http: httpx.AsyncClient, name: str) -> float:
    """A metric without labels; counters are exposed with the `_total` suffix."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    values = parse_metrics(response.text)
    for candidate in (name, f"{name}_total"):
        if candidate in values:
            return values[candidate]
    raise AssertionError(f"no metric {name!r} in /metrics")


async def poll(condition: Callable[[], Awaitable[bool]], seconds: float = 10, what: str = "") -> float:
    """Wait (bounded) for a condition there is no event for; returns how long it took."""
    started = trio.current_time()
    try:
        with trio.fail_after(seconds):
            while not await condition():
                await trio.sleep(POLL_SECONDS)
    except trio.TooSlowError:
        raise AssertionError(f"not within {seconds} s: {what}") from None
    return trio.current_time() - started


async def wait_for_metric(http: httpx.AsyncClient, name: str, expected: float, seconds: float = 10) -> None:
    last: list[float] = []

    async def reached() -> bool:
        last[:] = [await metric(http, name)]
        return last[0] == expected

    try:
        await poll(reached, seconds, f"{name} == {expected}")
    except AssertionError:
        raise AssertionError(f"{name} stayed at {last} instead of returning to {expected}") from None


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


class RawSocket:
    """A WebSocket client on wsproto that can do what polite clients do not: vanish mid-session
    (the TCP connection dropped without a close frame)."""

    def __init__(self, stream: trio.SocketStream, ws: WSConnection) -> None:
        self.stream = stream
        self.ws = ws
        self._events: list[object] = []

    @classmethod
    async def open(cls, url: str) -> RawSocket:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        stream = await trio.open_tcp_stream(parts.hostname, parts.port)
        ws = WSConnection(ConnectionType.CLIENT)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        await stream.send_all(ws.send(Request(host=f"{parts.hostname}:{parts.port}", target=target)))
        raw = cls(stream, ws)
        event = await raw.next_event()
        if not isinstance(event, AcceptConnection):
            await stream.aclose()
            raise AssertionError(f"handshake refused: {event!r}")
        return raw

    async def next_event(self) -> object:
        while not self._events:
            data = await self.stream.receive_some()
            self.ws.receive_data(data or None)
            self._events.extend(self.ws.events())
            if not data and not self._events:
                raise AssertionError("connection ended")
        return self._events.pop(0)

    async def send(self, payload: bytes | str) -> None:
        event = BytesMessage(data=payload) if isinstance(payload, bytes) else TextMessage(data=payload)
        await self.stream.send_all(self.ws.send(event))

    async def next_message(self) -> bytes | str:
        while True:
            event = await self.next_event()
            if isinstance(event, Message):
                assert event.message_finished
                return event.data  # type: ignore[no-any-return]
            if isinstance(event, (CloseConnection, RejectConnection)):
                raise AssertionError(f"closed by the server: {event!r}")

    async def vanish(self) -> None:
        """Drop the TCP connection: no close frame, no goodbye."""
        await self.stream.aclose()


def empty_sync_step1() -> bytes:
    return create_sync_message(Doc())
