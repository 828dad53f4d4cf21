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

from codeinterview.storage import queries, rows
from codeinterview.storage.base import (
    DocumentState,
    Merge,
    ParticipantRecord,
    SessionIdTaken,
    SessionRecord,
    StorageError,
)
from codeinterview.storage.sqlstore import Query, SqlStore

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


def _transaction(work: Callable[[sqlite3.Connection], None], connection: sqlite3.Connection) -> None:
    # IMMEDIATE takes the write lock up front, where the busy timeout can wait for it.
    connection.execute("BEGIN IMMEDIATE")
    try:
        work(connection)
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _document_values(state: DocumentState) -> dict[str, object]:
    return {
        "session_id": state.session_id,
        "code": rows.storable_code(state.code),
        "language": state.language,
        "updated_at": state.updated_at,
        "doc_state": state.doc_state,
    }


def _merged(
    connection: sqlite3.Connection,
    select: queries.CompiledQuery,
    state: DocumentState,
    merge: Merge,
) -> DocumentState:
    found = connection.execute(select.sql, select.params({"session_id": state.session_id})).fetchone()
    return merge(state, None if found is None else found[1])


class SqliteStore(SqlStore):
    """A `Store` on one SQLite connection, used by one worker thread at a time.

    SQLite serialises writers anyway, so one connection loses little and keeps every
    transaction simple. The lock is held until the thread returns (threads are never
    abandoned on cancellation), so two threads never share the connection.
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
                if error.sqlite_errorname == "SQLITE_CONSTRAINT_PRIMARYKEY" and duplicate:
                    raise duplicate(str(error)) from error
                raise StorageError(str(error)) from error
            except sqlite3.Error as error:
                raise StorageError(str(error)) from error

    async def _fetch_all(self, build: Query, **values: object) -> list[rows.Row]:
        return await self._run(partial(_fetch_all, *self._sql(build, **values)))

    async def _execute(
        self, build: Query, *, duplicate: type[StorageError] | None = None, **values: object
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

    async def save_documents(self, states: Sequence[DocumentState], merge: Merge | None = None) -> None:
        if not states:
            return
        update = self._sql.get(queries.update_document)
        select = self._sql.get(queries.select_document_state)

        def update_all(connection: sqlite3.Connection) -> None:
            batch = states
            if merge is not None:
                batch = [_merged(connection, select, state, merge) for state in states]
            # Ids whose session was deleted meanwhile match no row and are skipped.
            connection.executemany(update.sql, [update.params(_document_values(s)) for s in batch])

        await self._run(partial(_transaction, update_all))

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
