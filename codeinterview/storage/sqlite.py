"""`Store` on SQLite through the stdlib driver, one connection driven from worker threads."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

import trio
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.sql.expression import ClauseElement

from codeinterview.storage import queries, rows
from codeinterview.storage.base import (
    DocumentState,
    ParticipantExists,
    ParticipantRecord,
    SessionIdTaken,
    SessionRecord,
    SnapshotRecord,
    StorageError,
)

T = TypeVar("T")
Params = tuple[object, ...]

BUSY_TIMEOUT_SECONDS = 5.0


def _uuid_hex(value: str) -> str:
    # The 32-digit form is what SQLAlchemy's Uuid type keeps on SQLite; stay compatible.
    try:
        return uuid.UUID(value).hex
    except ValueError as error:
        raise StorageError(f"not a UUID: {value!r}") from error


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; the ones we need are spelled out.
    connection = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def _fetch_all(sql: str, params: Params, connection: sqlite3.Connection) -> list[rows.Row]:
    # fetchall even for one row: an unfinished UPDATE ... RETURNING would keep its write open.
    return list(connection.execute(sql, params).fetchall())


def _execute(sql: str, params: Params, connection: sqlite3.Connection) -> int:
    return connection.execute(sql, params).rowcount


def _transaction(
    work: Callable[[sqlite3.Connection], None], connection: sqlite3.Connection
) -> None:
    # IMMEDIATE takes the write lock up front, where the busy timeout can wait for it.
    connection.execute("BEGIN IMMEDIATE")
    try:
        work(connection)
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


class SqliteStore:
    """A `Store` on one SQLite connection, used by one worker thread at a time.

    SQLite serialises writers anyway, so one connection loses little and keeps every
    transaction simple; the lock is held until the thread returns (threads are never
    abandoned on cancellation), so the connection is never shared.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._lock = trio.Lock()
        self._sql = queries.QueryCache(pysqlite.dialect(), encode_uuid=_uuid_hex)

    async def _run(
        self,
        work: Callable[[sqlite3.Connection], T],
        *,
        duplicate: type[StorageError] | None = None,
    ) -> T:
        async with self._lock:
            try:
                return await trio.to_thread.run_sync(work, self._connection)
            except sqlite3.IntegrityError as error:
                if duplicate is not None and error.sqlite_errorname == "SQLITE_CONSTRAINT_PRIMARYKEY":
                    raise duplicate(str(error)) from error
                raise StorageError(str(error)) from error
            except sqlite3.Error as error:
                raise StorageError(str(error)) from error

    async def _fetch_all(self, build: Callable[[], ClauseElement], **values: object) -> list[rows.Row]:
        return await self._run(partial(_fetch_all, *self._sql(build, **values)))

    async def _fetch_one(self, build: Callable[[], ClauseElement], **values: object) -> rows.Row | None:
        found = await self._fetch_all(build, **values)
        return found[0] if found else None

    async def _execute(
        self,
        build: Callable[[], ClauseElement],
        *,
        duplicate: type[StorageError] | None = None,
        **values: object,
    ) -> int:
        return await self._run(partial(_execute, *self._sql(build, **values)), duplicate=duplicate)

    async def create_session(self, session: SessionRecord, creator: ParticipantRecord) -> None:
        if creator.session_id != session.id:
            raise ValueError("the creator must belong to the session being created")
        statements = [
            self._sql(queries.insert_session, **rows.values_of(session)),
            self._sql(queries.insert_participant, **rows.values_of(creator)),
        ]

        def insert_both(connection: sqlite3.Connection) -> None:
            for sql, params in statements:
                connection.execute(sql, params)

        await self._run(partial(_transaction, insert_both), duplicate=SessionIdTaken)

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

    async def save_documents(self, states: Sequence[DocumentState]) -> None:
        if not states:
            return
        update = self._sql.get(queries.update_document)
        batch = [
            update.params(
                {
                    "session_id": state.session_id,
                    "code": rows.storable_code(state.code),
                    "language": state.language,
                    "updated_at": state.updated_at,
                    "doc_state": state.doc_state,
                }
            )
            for state in states
        ]

        def update_all(connection: sqlite3.Connection) -> None:
            # Ids whose session was deleted meanwhile match no row and are skipped.
            connection.executemany(update.sql, batch)

        await self._run(partial(_transaction, update_all))

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
        row = await self._fetch_one(
            queries.select_snapshot, session_id=session_id, snapshot_id=snapshot_id
        )
        return None if row is None else rows.snapshot_record(row)

    async def delete_expired(self, expired_before: int) -> int:
        return await self._execute(queries.delete_expired, expired_before=expired_before)

    async def ping(self) -> None:
        await self._fetch_all(queries.ping)

    async def aclose(self) -> None:
        async with self._lock:
            await trio.to_thread.run_sync(self._connection.close)


@asynccontextmanager
async def open_sqlite_store(path: Path) -> AsyncIterator[SqliteStore]:
    """A store on the (already migrated) database file at `path`."""
    try:
        connection = await trio.to_thread.run_sync(_connect, path)
    except sqlite3.Error as error:
        raise StorageError(f"cannot open SQLite database {path}: {error}") from error
    store = SqliteStore(connection)
    try:
        yield store
    finally:
        with trio.CancelScope(shield=True):
            await store.aclose()
