"""Wall-clock time in integer milliseconds, swappable so expiry can be tested."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class WallClock:
    """The real clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to; expiry tests use it instead of waiting a day."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = WallClock().now_ms() if start_ms is None else start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 1000)
