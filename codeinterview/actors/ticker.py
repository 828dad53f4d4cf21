"""One clock for every live session's periodic flush.

A timer per session cost a cancelled scope per session per flush interval (about an eighth of
the server's CPU at interview load, in trio's deadline expiry and cancel delivery). Instead, a
session with unsaved edits asks the ticker, which delivers a `FlushTick` command to its inbox one
interval later. Ticks go out in small rounds (a tenth of the interval apart), so the flusher
still gets states in batches, while the sessions' snapshots stay spread over the interval: one
round for every session at once stalled the event loop for tens of milliseconds each second.
"""

from __future__ import annotations

import math
from collections import deque

import trio

from codeinterview.actors.messages import Command, FlushTick

TICK = FlushTick()
ROUNDS_PER_INTERVAL = 10


class FlushTicker:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._round = interval / ROUNDS_PER_INTERVAL
        # Every request waits the same interval, so arrival order is due order.
        self._waiting: deque[tuple[float, trio.MemorySendChannel[Command]]] = deque()
        self._requested = trio.Event()

    def request(self, inbox: trio.MemorySendChannel[Command]) -> None:
        """Deliver one `FlushTick` to `inbox` an interval from now (never blocks)."""
        self._waiting.append((trio.current_time() + self.interval, inbox))
        self._requested.set()

    async def run(self) -> None:
        while True:
            if not self._waiting:
                self._requested = trio.Event()
                await self._requested.wait()
            due = self._waiting[0][0]
            await trio.sleep_until(math.ceil(due / self._round) * self._round)
            self.tick(trio.current_time())

    def tick(self, now: float) -> None:
        """Deliver every tick that is due by `now`."""
        late: list[trio.MemorySendChannel[Command]] = []
        while self._waiting and self._waiting[0][0] <= now:
            _, inbox = self._waiting.popleft()
            try:
                inbox.send_nowait(TICK)
            except trio.WouldBlock:
                late.append(inbox)  # a session that far behind gets the next round
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the session has stopped (after its own final flush)
        self._waiting.extendleft((now + self._round, inbox) for inbox in reversed(late))
