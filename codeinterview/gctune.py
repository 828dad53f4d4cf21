"""Garbage-collector policy for a server that holds many long-lived connections.

CPython's collections stop the whole event loop for as long as they walk objects. Measured at
interview load (bench/RESULTS.md), its default policy paused every session for 20-60 ms several
times a second and for 100-500 ms on each full pass:

- An event loop rebuilds a task's chain of waiting coroutines after every message, and those
  live until the task's next message, typically a second. Such objects survive the young
  collections and die later, so every generation keeps walking tens of thousands of them, and
  the young trigger (allocations minus deallocations) rarely fires because the two balance.
- A full pass walks every tracked object: with a thousand connections, hundreds of thousands.

So the policy is: every `FREEZE_INTERVAL_SECONDS`, freeze everything tracked, which takes it
out of all later passes; CPython's own young collections then only ever walk what was allocated
since (tens of milliseconds' worth), and still free the short-lived cycles. Frozen objects are
still freed by reference counting, which frees nearly all of this server's garbage; a cycle
that becomes garbage after being frozen waits for the full pass (unfreeze, collect everything,
freeze again) every `FULL_INTERVAL_SECONDS`.

Measured at 1,500 connections (bench/RESULTS.md): a full pass walks ~430k objects for ~330 ms
and frees ~460, the cycles of about half a minute, so a pass on a timer bounds what they hold
without stalling every session whenever the server grows (an earlier trigger on growth of the
frozen set fired during every ramp-up of connections). An explicit young collection before each
freeze freed nothing at 1,000 edits/s (0 objects in 100 rounds) and cost 1-1.7 ms a round, a
few percent of the server's CPU, so there is none.
"""

from __future__ import annotations

import gc

import trio

FREEZE_INTERVAL_SECONDS = 0.05
FULL_INTERVAL_SECONDS = 600.0


def tune_for_serving() -> None:
    """Call once, after the app is built and before connections arrive."""
    gc.collect()
    gc.freeze()


async def collect_forever(
    interval: float = FREEZE_INTERVAL_SECONDS, full_interval: float = FULL_INTERVAL_SECONDS
) -> None:
    last_full = trio.current_time()
    while True:
        await trio.sleep(interval)
        gc.freeze()
        now = trio.current_time()
        if now - last_full > full_interval:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            last_full = now
