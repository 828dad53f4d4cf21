"""The vocabulary of a session actor: commands in, frames out.

Commands are imperative and arrive on the actor's inbox; `Outgoing` items travel on each
connection's own bounded outbox. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar
from typing import Protocol as Interface

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

    The actor writes with `send_nowait` and never waits: a full queue means the reader is too
    slow, and the actor ends the queue after recording `close`, which the writer obeys.

    The connection's writer is a task that runs only while something is queued: `send_nowait`
    starts one (through `start_writer`) when a frame has to wait, `end` starts one to close the
    socket, and the writer returns once `next_nowait` finds the queue empty. An idle connection
    has no writer: a task parked on a queue, with its coroutine frames, was ~1.9 kB of every
    idle connection. A writer that stops for good (closing, or cancelled) calls `stop`.

    When the connection sets `direct`, a frame for an idle connection (no writer, so nothing is
    queued) is written to the socket from `send_nowait` itself: no scheduler round, which was
    the largest single cost of a broadcast. A frame the socket takes only in part is followed by
    `FLUSH` for the writer; one the direct path does not try goes to the writer.
    """

    __slots__ = ("_ended", "_frames", "_limit", "_stopped", "_writing", "close", "direct", "start_writer")

    def __init__(self, limit: int) -> None:
        self.close: Close | None = None
        self.direct: DirectSend | None = None
        # Set by the connection once it can run a writer; until then frames queue, and its first
        # writer sends them (so `_writing` starts true: nothing may overtake them).
        self.start_writer: Callable[[], None] | None = None
        self._limit = limit
        # A list, not a deque: an empty deque keeps a 64-slot block, an empty list nothing.
        self._frames: list[Outgoing] = []
        self._writing = True
        self._ended = False
        self._stopped = False

    def send_nowait(self, frame: Outgoing) -> None:
        """Send or queue a frame: `trio.WouldBlock` if the queue is full,
        `trio.ClosedResourceError` after `end`, `trio.BrokenResourceError` once stopped."""
        if self._ended:
            raise trio.ClosedResourceError
        if self._stopped:
            raise trio.BrokenResourceError
        if not self._writing:
            if self.direct is not None and type(frame) is not Close:
                written = self.direct(frame)  # type: ignore[arg-type]
                if written is Written.ALL:
                    return
                if written is Written.PART:
                    frame = FLUSH
            self._frames.append(frame)
            if not self._start_writer():
                raise trio.BrokenResourceError
        elif len(self._frames) < self._limit:
            self._frames.append(frame)
        else:
            raise trio.WouldBlock

    def end(self) -> None:
        """No more frames: a writer sends what is queued, then closes the socket."""
        self._ended = True
        if not self._writing and not self._stopped:
            self._start_writer()

    def stop(self) -> None:
        """The connection's writing is over: queued frames are dropped and later ones refused."""
        self._stopped = True
        self._frames.clear()

    def next_nowait(self) -> Outgoing | None:
        """For the writer: the next frame; `None` when nothing is queued (the writer returns
        then, and the next frame that has to wait starts another); `trio.EndOfChannel` once
        ended and drained."""
        if self._frames:
            return self._frames.pop(0)
        if self._ended:
            raise trio.EndOfChannel
        self._writing = False
        return None

    def _start_writer(self) -> bool:
        self._writing = True
        assert self.start_writer is not None  # `_writing` stays true until it is set
        try:
            self.start_writer()
        except RuntimeError:  # the writers' nursery has closed: the server is stopping
            self.stop()
            return False
        return True


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
