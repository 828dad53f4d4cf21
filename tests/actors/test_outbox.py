"""A connection's outbox: a bounded queue from the actor to the connection's writer, with the
exceptions of a trio memory channel (one sender, one receiver)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from codeinterview.actors.messages import Close, Outbox, Outgoing


async def receive_into(outbox: Outbox, received: list[Outgoing]) -> None:
    while True:
        try:
            received.append(await outbox.receive())
        except trio.EndOfChannel:
            return


async def test_frames_reach_a_waiting_writer_in_order() -> None:
    outbox = Outbox(4)
    received: list[Outgoing] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive_into, outbox, received)
        await trio.testing.wait_all_tasks_blocked()
        outbox.send_nowait(b"one")  # handed to the waiting writer
        outbox.send_nowait("two")  # queued: the writer has not run yet
        outbox.send_nowait(b"three")
        await trio.testing.wait_all_tasks_blocked()
        assert received == [b"one", "two", b"three"]
        outbox.end()
    assert received == [b"one", "two", b"three"]


async def test_a_full_queue_refuses_without_blocking() -> None:
    outbox = Outbox(2)
    outbox.send_nowait(b"1")
    outbox.send_nowait(b"2")
    with pytest.raises(trio.WouldBlock):
        outbox.send_nowait(b"3")
    assert await outbox.receive() == b"1"
    outbox.send_nowait(b"3")  # room again
    assert await outbox.receive() == b"2"
    assert await outbox.receive() == b"3"


async def test_the_writer_gets_what_was_queued_before_the_end() -> None:
    outbox = Outbox(4)
    outbox.send_nowait(b"last")
    outbox.send_nowait(Close(4429, "too slow"))
    outbox.end()
    with pytest.raises(trio.ClosedResourceError):
        outbox.send_nowait(b"late")
    assert await outbox.receive() == b"last"
    assert await outbox.receive() == Close(4429, "too slow")
    with pytest.raises(trio.EndOfChannel):
        await outbox.receive()


async def test_the_end_wakes_a_waiting_writer() -> None:
    outbox = Outbox(4)
    received: list[Outgoing] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive_into, outbox, received)
        await trio.testing.wait_all_tasks_blocked()
        outbox.end()
    assert received == []


async def test_frames_for_a_stopped_writer_are_refused() -> None:
    outbox = Outbox(4)
    outbox.send_nowait(b"unsent")
    outbox.stop()
    with pytest.raises(trio.BrokenResourceError):
        outbox.send_nowait(b"more")
    outbox.end()  # the actor may still end it
    with pytest.raises(trio.EndOfChannel):
        await outbox.receive()


async def test_a_writer_cancelled_while_waiting_is_not_woken_later() -> None:
    outbox = Outbox(4)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.receive)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    outbox.send_nowait(b"queued")  # no waiting writer: queued, not handed to the gone task
    assert await outbox.receive() == b"queued"


async def test_receiving_is_a_checkpoint_even_with_frames_queued() -> None:
    outbox = Outbox(4)
    outbox.send_nowait(b"frame")
    with trio.CancelScope() as scope:
        scope.cancel()
        await outbox.receive()
    assert scope.cancelled_caught
    assert await outbox.receive() == b"frame"  # a cancelled receive takes nothing
