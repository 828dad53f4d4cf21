"""Garbage-collector policy for a server that holds many long-lived connections.

CPython's collections stop the whole event loop for as long as they walk objects. Measured at
interview load (bench/RESULTS.md), its default policy paused every session for 20-60 ms several
times a second and for 100-500 ms on each full pass:

- An event loop rebuilds a task's chain of waiting coroutines after every message, and those
  live until the task's next message, typically a second. Such objects survive the young
  collections and die later, so every generation keeps walking tens of thousands of them, and
  the young trigger (allocations minus deallocations) rarely fires because the two balance.
- A full pass walks every tracked object: with a thousand connections, hundreds of thousands.

So the policy is: every `FREEZE_INTERVAL_SECONDS`, collect the young generations (which hold
only what was allocated since the last round, so the pause stays around a millisecond; this
also frees cycles that are already garbage) and then freeze everything that survived, which
takes it out of all later passes. Frozen objects are still freed by reference counting, which
frees nearly all of this server's garbage; only a cycle that becomes garbage after being frozen
waits for the next full pass. That pass (unfreeze, collect everything, freeze again: hundreds of
milliseconds with a thousand connections) runs every `FULL_INTERVAL_SECONDS`, or sooner when
the frozen set has doubled since the last one, which bounds what such cycles can hold. (CPython
makes a full pass at every quarter of growth, so several while connections ramp up.)
"""

from __future__ import annotations

import gc

import trio

FREEZE_INTERVAL_SECONDS = 0.025
FULL_INTERVAL_SECONDS = 600.0
FULL_GROWTH = 2.0
GROWTH_CHECK_SECONDS = 10.0


def tune_for_serving() -> None:
    """Call once, after the app is built and before connections arrive."""
    gc.collect()
    gc.freeze()


async def collect_forever(
    interval: float = FREEZE_INTERVAL_SECONDS, full_interval: float = FULL_INTERVAL_SECONDS
) -> None:
    baseline = gc.get_freeze_count()
    last_full = last_check = trio.current_time()
    while True:
        await trio.sleep(interval)
        gc.collect(1)
        gc.freeze()
        now = trio.current_time()
        if now - last_check < GROWTH_CHECK_SECONDS and now - last_full <= full_interval:
            continue
        # Counting the frozen set walks all of it (milliseconds), so only now and then.
        last_check = now
        if gc.get_freeze_count() > baseline * FULL_GROWTH or now - last_full > full_interval:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            baseline, last_full = gc.get_freeze_count(), now
