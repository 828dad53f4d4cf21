"""One clock for every live session's periodic flush.

A timer per session cost a cancelled scope per session per flush interval (about an eighth of
the server's CPU at interview load, in trio's deadline expiry and cancel delivery). Instead, a
session that has unsaved edits asks for the next tick, and at each tick every session that
asked gets a `FlushTick` command on its inbox, all at the same instant, so their states also
reach the flusher together and go out in one batch.
"""

from __future__ import annotations

import math

import trio

from codeinterview.actors.messages import Command, FlushTick

TICK = FlushTick()


class FlushTicker:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._waiting: set[trio.MemorySendChannel[Command]] = set()

    def request(self, inbox: trio.MemorySendChannel[Command]) -> None:
        """Deliver one `FlushTick` to `inbox` at the next tick (must not block: actors call it)."""
        self._waiting.add(inbox)

    async def run(self) -> None:
        while True:
            now = trio.current_time()
            await trio.sleep_until((math.floor(now / self.interval) + 1) * self.interval)
            self.tick()

    def tick(self) -> None:
        waiting, self._waiting = self._waiting, set()
        for inbox in waiting:
            try:
                inbox.send_nowait(TICK)
            except trio.WouldBlock:
                self._waiting.add(inbox)  # a session that far behind gets the next tick
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the session has stopped (after its own final flush)
