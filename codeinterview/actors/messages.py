"""The vocabulary of a session actor: commands in, frames out.

Commands are imperative and arrive on the actor's inbox; `Outgoing` items travel on each
connection's own bounded outbox. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar
from typing import Protocol as Interface

import outcome
import trio

from codeinterview.storage.base import DocumentState, ParticipantRecord

Protocol = Literal["yjs", "json"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Close:
    """Tell a connection's writer to close the socket with this code and reason."""

    code: int
    reason: str


class Flush:
    """Tells a connection's writer to send what a direct write left over."""


FLUSH = Flush()
Outgoing = bytes | str | Close | Flush


class Written(enum.Enum):
    """What a direct write did with a frame."""

    ALL = enum.auto()
    PART = enum.auto()  # the rest is left for `DirectSend.flush`
    NOTHING = enum.auto()  # not tried: the writer sends it


class DirectSend(Interface):
    """A connection's socket, written without waiting (see `Outbox.direct`)."""

    def __call__(self, frame: bytes | str) -> Written: ...

    async def flush(self) -> None: ...


class Outbox:
    """One connection's bounded queue of frames, and why the actor closed it (if it did).

    The actor writes with `send_nowait`; a full queue means the reader is too slow, and the
    actor ends the queue after recording `close`, which the connection's writer obeys. The
    writer takes frames with `receive` and calls `stop` when it stops.

    It behaves as a trio memory channel with one sender and one receiver (`send_nowait`,
    `receive`, the same exceptions), built on `trio.lowlevel` because every connection has one
    for as long as it is open: a memory channel's two endpoints, shared state, deque block and
    wait bookkeeping came to about 2 kB per connection, a fifteenth of an idle one.

    When the connection sets `direct`, a frame for an idle writer (waiting, so nothing is
    queued) is written to the socket from `send_nowait` itself: no scheduler round for the
    writer, which was the largest single cost of a broadcast. A frame the socket takes only in
    part wakes the writer with `FLUSH`; one the direct path does not try goes to the writer.
    """

    __slots__ = ("_ended", "_frames", "_limit", "_stopped", "_writer", "close", "direct")

    def __init__(self, limit: int) -> None:
        self.close: Close | None = None
        self.direct: DirectSend | None = None
        self._limit = limit
        # A list, not a deque: an empty deque keeps a 64-slot block, an empty list nothing,
        # and the queue is short (frames are handed straight to a waiting writer).
        self._frames: list[Outgoing] = []
        self._writer: trio.lowlevel.Task | None = None
        self._ended = False
        self._stopped = False

    @trio.lowlevel.enable_ki_protection
    def send_nowait(self, frame: Outgoing) -> None:
        """Queue a frame: `trio.WouldBlock` if the queue is full, `trio.ClosedResourceError`
        after `end`, `trio.BrokenResourceError` once the writer has stopped."""
        if self._ended:
            raise trio.ClosedResourceError
        if self._stopped:
            raise trio.BrokenResourceError
        if self._writer is not None:
            if self.direct is not None and type(frame) is not Close:
                written = self.direct(frame)  # type: ignore[arg-type]
                if written is Written.ALL:
                    return
                if written is Written.PART:
                    frame = FLUSH
            writer, self._writer = self._writer, None
            trio.lowlevel.reschedule(writer, outcome.Value(frame))
        elif len(self._frames) < self._limit:
            self._frames.append(frame)
        else:
            raise trio.WouldBlock

    @trio.lowlevel.enable_ki_protection
    def end(self) -> None:
        """No more frames: the writer gets what is queued, then `trio.EndOfChannel`."""
        self._ended = True
        if self._writer is not None:
            writer, self._writer = self._writer, None
            trio.lowlevel.reschedule(writer, outcome.Error(trio.EndOfChannel()))

    def stop(self) -> None:
        """The writer has stopped: queued frames are dropped and later ones refused."""
        self._stopped = True
        self._frames.clear()

    @trio.lowlevel.enable_ki_protection
    async def receive(self) -> Outgoing:
        """The next frame (for the one writer); `trio.EndOfChannel` once ended and empty."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._frames:
            frame = self._frames.pop(0)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return frame
        if self._ended:
            raise trio.EndOfChannel
        self._writer = trio.lowlevel.current_task()
        handed: Outgoing = await trio.lowlevel.wait_task_rescheduled(self._abort_receive)
        return handed

    def _abort_receive(self, _: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._writer = None
        return trio.lowlevel.Abort.SUCCEEDED


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who is on a connection, as the pure session logic needs it."""

    connection_id: int
    participant: ParticipantRecord
    protocol: Protocol


class Reply(Generic[T]):
    """A one-shot answer from the actor to a waiting REST handler."""

    def __init__(self) -> None:
        self._done = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def set(self, value: T) -> None:
        self._value = value
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    async def wait(self) -> T:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


# -- client messages (parsed from JSON text frames) -----------------------------------------


@dataclass(frozen=True, slots=True)
class ReplaceCode:
    code: str


@dataclass(frozen=True, slots=True)
class ChangeLanguage:
    language: str


@dataclass(frozen=True, slots=True)
class MoveCursor:
    cursor: dict[str, object]


@dataclass(frozen=True, slots=True)
class Ping:
    pass


ClientMessage = ReplaceCode | ChangeLanguage | MoveCursor | Ping


# -- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connect:
    """A new connection joins; its outbox is where the actor writes to it."""

    peer: PeerInfo
    outbox: Outbox
    roster: tuple[ParticipantRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Disconnect:
    connection_id: int


@dataclass(frozen=True, slots=True)
class ReceiveFrame:
    """A binary y-websocket frame from a connection."""

    connection_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ReceiveEvent:
    """A parsed JSON message from a connection."""

    connection_id: int
    message: ClientMessage


@dataclass(frozen=True, slots=True)
class ReportBadInput:
    """A connection sent something unusable; the sender gets an `error` event."""

    connection_id: int
    error: str


@dataclass(frozen=True, slots=True)
class ReceiveRemote:
    """A y-websocket message from another node of the cluster."""

    node: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class Resync:
    """Exchange state with the other nodes (after a Redis reconnect, or periodically)."""


@dataclass(frozen=True, slots=True)
class ReadDocument:
    reply: Reply[DocumentState]


@dataclass(frozen=True, slots=True)
class WriteDocument:
    code: str | None
    language: str | None
    reply: Reply[DocumentState]


@dataclass(frozen=True, slots=True)
class ReadPresence:
    reply: Reply[frozenset[str]]


@dataclass(frozen=True, slots=True)
class RemoveParticipant:
    participant_id: str


@dataclass(frozen=True, slots=True)
class EndSession:
    pass


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The server is stopping: flush, then close every socket with 1001."""

    done: trio.Event = field(default_factory=trio.Event)


@dataclass(frozen=True, slots=True)
class FlushTick:
    """Time to save unsaved edits (from the shared flush ticker, when asked for)."""


@dataclass(frozen=True, slots=True)
class Flushed:
    """A flush finished (from the actor's own flush task)."""

    version: int
    error: str | None


Command = (
    Connect
    | Disconnect
    | ReceiveFrame
    | ReceiveEvent
    | ReportBadInput
    | ReceiveRemote
    | Resync
    | ReadDocument
    | WriteDocument
    | ReadPresence
    | RemoveParticipant
    | EndSession
    | Shutdown
    | Flushed
    | FlushTick
)
