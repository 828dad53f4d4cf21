"""A connection's outbox: a bounded queue from the actor to the connection's writer, a task
that runs only while something is queued (started through `start_writer`)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from codeinterview.actors.messages import Close, Outbox, Outgoing


class Writer:
    """A connection's writer in miniature: drains the outbox in a task of its own, then returns."""

    def __init__(self, outbox: Outbox, nursery: trio.Nursery) -> None:
        self.outbox = outbox
        self.nursery = nursery
        self.sent: list[Outgoing] = []
        self.runs = 0
        self.ended = False
        outbox.start_writer = self.start

    def start(self) -> None:
        self.nursery.start_soon(self.drain)

    async def drain(self) -> None:
        self.runs += 1
        while True:
            await trio.lowlevel.checkpoint()
            try:
                frame = self.outbox.next_nowait()
            except trio.EndOfChannel:
                self.ended = True
                self.outbox.stop()
                return
            if frame is None:
                return
            self.sent.append(frame)


async def test_queued_frames_reach_the_first_writer_and_later_ones_start_another() -> None:
    outbox = Outbox(4)
    outbox.send_nowait(b"one")  # queued while the connection is set up: no writer yet
    async with trio.open_nursery() as nursery:
        writer = Writer(outbox, nursery)
        writer.start()
        outbox.send_nowait("two")  # the first writer has not run yet: queued behind "one"
        await trio.testing.wait_all_tasks_blocked()
        assert (writer.sent, writer.runs) == ([b"one", "two"], 1)
        outbox.send_nowait(b"three")  # idle: a new writer
        await trio.testing.wait_all_tasks_blocked()
        assert (writer.sent, writer.runs) == ([b"one", "two", b"three"], 2)


async def test_a_full_queue_refuses_without_blocking() -> None:
    outbox = Outbox(2)
    outbox.send_nowait(b"1")
    outbox.send_nowait(b"2")
    with pytest.raises(trio.WouldBlock):
        outbox.send_nowait(b"3")
    assert outbox.next_nowait() == b"1"
    outbox.send_nowait(b"3")  # room again
    assert [outbox.next_nowait(), outbox.next_nowait(), outbox.next_nowait()] == [b"2", b"3", None]


async def test_the_writer_gets_what_was_queued_before_the_end() -> None:
    outbox = Outbox(4)
    outbox.send_nowait(b"last")
    outbox.send_nowait(Close(4429, "too slow"))
    outbox.end()
    with pytest.raises(trio.ClosedResourceError):
        outbox.send_nowait(b"late")
    assert outbox.next_nowait() == b"last"
    assert outbox.next_nowait() == Close(4429, "too slow")
    with pytest.raises(trio.EndOfChannel):
        outbox.next_nowait()


async def test_the_end_starts_a_writer_for_an_idle_connection() -> None:
    outbox = Outbox(4)
    async with trio.open_nursery() as nursery:
        writer = Writer(outbox, nursery)
        writer.start()
        await trio.testing.wait_all_tasks_blocked()
        assert writer.runs == 1 and not writer.ended  # idle, no writer left
        outbox.end()
    assert (writer.runs, writer.ended) == (2, True)


async def test_frames_for_a_stopped_connection_are_refused() -> None:
    outbox = Outbox(4)
    outbox.send_nowait(b"unsent")
    outbox.stop()
    with pytest.raises(trio.BrokenResourceError):
        outbox.send_nowait(b"more")
    outbox.end()  # the actor may still end it
    with pytest.raises(trio.EndOfChannel):
        outbox.next_nowait()


async def test_a_frame_after_the_connection_has_gone_is_refused() -> None:
    outbox = Outbox(4)
    async with trio.open_nursery() as nursery:
        Writer(outbox, nursery).start()
    # The nursery has closed, so no writer can start: the frame is refused, not lost silently.
    with pytest.raises(trio.BrokenResourceError):
        outbox.send_nowait(b"late")
    outbox.end()  # and ending it does not raise either
