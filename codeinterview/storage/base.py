"""The one storage interface: records, errors, and the `Store` protocol both backends satisfy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


class StorageError(Exception):
    """The database failed to answer or refused a write."""


class SessionIdTaken(StorageError):
    """A session with this id already exists; the caller picks another id."""


class ParticipantExists(StorageError):
    """This participant id is already part of the session."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    created_at: int
    updated_at: int
    expires_at: int
    code: str
    language: str
    creator_id: str
    candidate_invite: str
    interviewer_invite: str
    ended_at: int | None = None


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    id: str
    session_id: str
    name: str
    role: str
    color: str
    joined_at: int
    is_online: bool = False
    removed_at: int | None = None


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    id: int
    session_id: str
    label: str | None
    code: str
    language: str
    created_at: int
    created_by: str | None


@dataclass(frozen=True, slots=True)
class DocumentState:
    """What a live session writes back: the CRDT state and its plain-text rendering."""

    session_id: str
    code: str
    language: str
    updated_at: int
    doc_state: bytes | None = None


# Combines a session's new state with the one stored (None if none), for several nodes that
# each flush the same session: the stored result must hold both, never just the newest.
Merge = Callable[[DocumentState, bytes | None], DocumentState]


class Store(Protocol):
    """Everything the application asks of a database. Timestamps are integer milliseconds."""

    async def create_session(self, session: SessionRecord, creator: ParticipantRecord) -> None:
        """Insert a session and its creator atomically; `SessionIdTaken` on an id collision."""

    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    async def end_session(self, session_id: str, ended_at: int) -> None: ...

    async def add_participant(self, participant: ParticipantRecord) -> None:
        """`ParticipantExists` if the id is already in the session (removed ones included)."""

    async def get_participant(self, session_id: str, participant_id: str) -> ParticipantRecord | None:
        """The participant, removed or not (callers check `removed_at`)."""

    async def list_participants(self, session_id: str) -> list[ParticipantRecord]:
        """Participants not removed, in join order."""

    async def update_participant(
        self, session_id: str, participant_id: str, *, name: str | None, color: str | None
    ) -> ParticipantRecord | None: ...

    async def remove_participant(self, session_id: str, participant_id: str, removed_at: int) -> None: ...

    async def set_online(self, session_id: str, participant_id: str, online: bool) -> None: ...

    async def reset_online(self) -> None:
        """Mark everyone offline: at start-up no connection is live yet."""

    async def load_document(self, session_id: str) -> DocumentState | None: ...

    async def save_documents(self, states: Sequence[DocumentState], merge: Merge | None = None) -> None:
        """Write many sessions' code, language and CRDT state in one transaction; with `merge`,
        each stored state is read, locked and merged with the new one in that transaction."""

    async def add_snapshot(
        self,
        session_id: str,
        *,
        label: str | None,
        code: str,
        language: str,
        created_at: int,
        created_by: str | None,
    ) -> SnapshotRecord: ...

    async def list_snapshots(self, session_id: str) -> list[SnapshotRecord]: ...

    async def get_snapshot(self, session_id: str, snapshot_id: int) -> SnapshotRecord | None: ...

    async def delete_expired(self, expired_before: int) -> int:
        """Delete sessions whose `expires_at` is older than the given time; return how many."""

    async def ping(self) -> None:
        """Raise `StorageError` unless the database answers."""
