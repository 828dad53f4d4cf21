"""The `Store` methods both backends share: each is one statement from `queries` plus a record.

A backend supplies how to run a statement (`_fetch_all`, `_execute`) and the two operations
whose best form differs per database (`create_session`, `save_documents`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from sqlalchemy.sql.expression import ClauseElement

from codeinterview.storage import queries, rows
from codeinterview.storage.base import (
    DocumentState,
    Merge,
    ParticipantExists,
    ParticipantRecord,
    SessionRecord,
    SnapshotRecord,
    StorageError,
)

Query = Callable[[], ClauseElement]


class SqlStore(ABC):
    """A `Store` whose statements come from `queries`; subclasses say how to run them."""

    @abstractmethod
    async def _fetch_all(self, build: Query, **values: object) -> list[rows.Row]:
        """Run `build`'s statement and return its rows; driver errors become `StorageError`."""

    @abstractmethod
    async def _execute(
        self, build: Query, *, duplicate: type[StorageError] | None = None, **values: object
    ) -> int:
        """Run `build`'s statement and return the affected row count.

        A primary-key violation raises `duplicate` when given.
        """

    @abstractmethod
    async def create_session(self, session: SessionRecord, creator: ParticipantRecord) -> None:
        """Insert a session and its creator atomically; `SessionIdTaken` on an id collision."""

    @abstractmethod
    async def save_documents(self, states: Sequence[DocumentState], merge: Merge | None = None) -> None:
        """Write many sessions' code, language and CRDT state in one transaction."""

    async def _fetch_one(self, build: Query, **values: object) -> rows.Row | None:
        found = await self._fetch_all(build, **values)
        return found[0] if found else None

    async def get_session(self, session_id: str) -> SessionRecord | None:
        row = await self._fetch_one(queries.select_session, session_id=session_id)
        return None if row is None else rows.session_record(row)

    async def end_session(self, session_id: str, ended_at: int) -> None:
        await self._execute(queries.end_session, session_id=session_id, ended_at=ended_at)

    async def add_participant(self, participant: ParticipantRecord) -> None:
        await self._execute(
            queries.insert_participant, duplicate=ParticipantExists, **rows.values_of(participant)
        )

    async def get_participant(self, session_id: str, participant_id: str) -> ParticipantRecord | None:
        row = await self._fetch_one(
            queries.select_participant, session_id=session_id, participant_id=participant_id
        )
        return None if row is None else rows.participant_record(row)

    async def list_participants(self, session_id: str) -> list[ParticipantRecord]:
        found = await self._fetch_all(queries.list_participants, session_id=session_id)
        return [rows.participant_record(row) for row in found]

    async def update_participant(
        self, session_id: str, participant_id: str, *, name: str | None, color: str | None
    ) -> ParticipantRecord | None:
        row = await self._fetch_one(
            queries.update_participant,
            session_id=session_id,
            participant_id=participant_id,
            name=name,
            color=color,
        )
        return None if row is None else rows.participant_record(row)

    async def remove_participant(self, session_id: str, participant_id: str, removed_at: int) -> None:
        # Only the first removal counts; removing again keeps the original time.
        await self._execute(
            queries.remove_participant,
            session_id=session_id,
            participant_id=participant_id,
            removed_at=removed_at,
        )

    async def set_online(self, session_id: str, participant_id: str, online: bool) -> None:
        await self._execute(
            queries.set_online, session_id=session_id, participant_id=participant_id, online=online
        )

    async def reset_online(self) -> None:
        await self._execute(queries.reset_online)

    async def load_document(self, session_id: str) -> DocumentState | None:
        row = await self._fetch_one(queries.select_document, session_id=session_id)
        return None if row is None else rows.document_state(row)

    async def add_snapshot(
        self,
        session_id: str,
        *,
        label: str | None,
        code: str,
        language: str,
        created_at: int,
        created_by: str | None,
    ) -> SnapshotRecord:
        row = await self._fetch_one(
            queries.insert_snapshot,
            session_id=session_id,
            label=label,
            code=rows.storable_code(code),
            language=language,
            created_at=created_at,
            created_by=created_by,
        )
        if row is None:
            raise StorageError("INSERT ... RETURNING returned no row")
        return rows.snapshot_record(row)

    async def list_snapshots(self, session_id: str) -> list[SnapshotRecord]:
        found = await self._fetch_all(queries.list_snapshots, session_id=session_id)
        return [rows.snapshot_record(row) for row in found]

    async def get_snapshot(self, session_id: str, snapshot_id: int) -> SnapshotRecord | None:
        if not 0 < snapshot_id <= queries.SNAPSHOT_ID_MAX:
            return None
        row = await self._fetch_one(queries.select_snapshot, session_id=session_id, snapshot_id=snapshot_id)
        return None if row is None else rows.snapshot_record(row)

    async def delete_expired(self, expired_before: int) -> int:
        return await self._execute(queries.delete_expired, expired_before=expired_before)

    async def ping(self) -> None:
        await self._fetch_all(queries.ping)
