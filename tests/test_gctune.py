"""The collection policy: survivors are frozen out of later passes, and garbage cycles among
frozen objects are still freed by the periodic full pass."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from codeinterview import gctune


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.collect()


async def test_survivors_are_frozen(autojump_clock: trio.testing.MockClock) -> None:
    gc.freeze()
    kept = Node()
    assert kept in gc.get_objects(0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gctune.collect_forever, 0.01, 3600.0)
        await trio.sleep(0.015)
        nursery.cancel_scope.cancel()
    assert gc.is_tracked(kept)
    assert all(kept not in gc.get_objects(generation) for generation in range(3))  # frozen
    assert gc.get_freeze_count() > 0


async def test_a_cycle_that_dies_frozen_is_freed_by_the_full_pass(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gc.freeze()
    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gctune.collect_forever, 0.01, 1.0)
        await trio.sleep(0.015)  # one round: the live cycle is frozen
        del a, b
        assert ref() is not None  # garbage now, but frozen: young passes do not see it
        await trio.sleep(1.1)  # the full pass
        nursery.cancel_scope.cancel()
    assert ref() is None
