"""The vocabulary of a session actor: commands in, frames out.

Commands are imperative and arrive on the actor's inbox; `Outgoing` items travel on each
connection's own bounded outbox. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

import trio

from codeinterview.storage.base import DocumentState, ParticipantRecord

Protocol = Literal["yjs", "json"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Close:
    """Tell a connection's writer to close the socket with this code and reason."""

    code: int
    reason: str


Outgoing = bytes | str | Close


class Outbox:
    """One connection's bounded queue of frames, and why the actor closed it (if it did).

    The actor writes with `send_nowait`; a full queue means the reader is too slow, and the
    actor closes the channel after recording `close`, which the connection's writer obeys.
    """

    def __init__(self, channel: trio.MemorySendChannel[Outgoing]) -> None:
        self.channel = channel
        self.close: Close | None = None


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
