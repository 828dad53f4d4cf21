"""`Store` on PostgreSQL: asyncpg on an asyncio loop hosted inside trio by trio-asyncio.

The only module that imports asyncpg or trio_asyncio. Every query is an asyncio coroutine
handed to the loop with `run_aio_coroutine`, which any trio task may call while the loop is
open; cancelling the trio caller cancels the query.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
import trio
import trio_asyncio
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

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

MAX_CONNECTIONS = 10
CONNECT_TIMEOUT_SECONDS = 10.0
PING_TIMEOUT_SECONDS = 5.0
CLOSE_TIMEOUT_SECONDS = 5.0

# What a failing or unreachable server looks like through asyncpg; OSError covers refused
# connections and asyncio's TimeoutError.
_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


COMMAND_TIMEOUT_SECONDS = 15.0


async def _create_pool(dsn: str, max_connections: int, connect_timeout: float) -> asyncpg.Pool:
    # No asyncpg timers per query (idle lifetime, command_timeout): trio-asyncio keeps
    # cancelled asyncio timers until they would have fired, ~200 bytes per query for minutes.
    # Statements are bounded by a trio deadline in `PostgresStore._call` instead.
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_connections,
        timeout=connect_timeout,
        max_inactive_connection_lifetime=0,
    )


async def _fetch(pool: asyncpg.Pool, sql: str, params: Params) -> list[rows.Row]:
    # asyncpg's Record is indexable but not a Sequence; tuples keep `rows` driver-neutral.
    return [tuple(record) for record in await pool.fetch(sql, *params)]


def _affected(status: str) -> int:
    """The row count from a command tag such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])


def _unnest_values(states: Sequence[DocumentState]) -> dict[str, object]:
    return {
        "id_list": [state.session_id for state in states],
        "code_list": [rows.storable_code(state.code) for state in states],
        "language_list": [state.language for state in states],
        "updated_at_list": [state.updated_at for state in states],
        "doc_state_list": [state.doc_state for state in states],
    }


async def _detachable(coroutine: Coroutine[object, object, T]) -> T:
    """(asyncio) Run `coroutine` so that cancelling the caller returns at once.

    trio-asyncio waits for a cancelled asyncio task to finish; asyncpg, stuck on a connection
    that went silent, may not finish for a long time, and a health check or flush would hang
    with it. The work runs as its own task behind a shield: on cancellation it is told to stop,
    and the caller goes on without waiting for it.
    """
    task = asyncio.ensure_future(coroutine)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_consume_outcome)
        raise


def _consume_outcome(task: asyncio.Future[T]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


class PostgresStore(SqlStore):
    """A `Store` on an asyncpg pool; usable only while `open_postgres_store`'s loop is open."""

    def __init__(self, loop: trio_asyncio.TrioEventLoop, pool: asyncpg.Pool) -> None:
        self._loop = loop
        self._pool = pool
        self._closed = False
        # No uuid encoder: asyncpg accepts the canonical string for a UUID parameter.
        self._sql = queries.QueryCache(asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]

    async def _call(
        self,
        coroutine: Coroutine[object, object, T],
        *,
        duplicate: type[StorageError] | None = None,
    ) -> T:
        if self._closed:
            coroutine.close()
            raise StorageError("the PostgreSQL store is closed")
        try:
            # A half-open connection must fail a flush (which is retried), not hang it.
            with trio.fail_after(COMMAND_TIMEOUT_SECONDS):
                result: T = await self._loop.run_aio_coroutine(_detachable(coroutine))
            return result
        except trio.TooSlowError as error:
            raise StorageError(f"PostgreSQL did not answer within {COMMAND_TIMEOUT_SECONDS} s") from error
        except asyncpg.UniqueViolationError as error:
            raise (duplicate or StorageError)(str(error)) from error
        except _DRIVER_ERRORS as error:
            raise StorageError(str(error)) from error

    async def _fetch_all(self, build: Query, **values: object) -> list[rows.Row]:
        sql, params = self._sql(build, **values)
        return await self._call(_fetch(self._pool, sql, params))

    async def _execute(
        self, build: Query, *, duplicate: type[StorageError] | None = None, **values: object
    ) -> int:
        sql, params = self._sql(build, **values)
        status: str = await self._call(self._pool.execute(sql, *params), duplicate=duplicate)
        return _affected(status)

    async def create_session(self, session: SessionRecord, creator: ParticipantRecord) -> None:
        if creator.session_id != session.id:
            raise ValueError("the creator must belong to the session being created")
        creator_values = rows.values_of(creator)
        await self._execute(
            queries.insert_session_with_creator,
            duplicate=SessionIdTaken,
            **rows.values_of(session),
            **{f"participant_{key}": value for key, value in creator_values.items()},
        )

    async def save_documents(self, states: Sequence[DocumentState], merge: Merge | None = None) -> None:
        if not states:
            return
        latest = rows.latest_per_session(states)
        if merge is not None:
            await self._call(self._merge_and_save(latest, merge))
            return
        # One statement: one round trip, atomic by itself, however large the batch.
        sql, params = self._sql(queries.update_documents_unnest, **_unnest_values(latest))
        await self._call(self._pool.execute(sql, *params))

    async def _merge_and_save(self, latest: Sequence[DocumentState], merge: Merge) -> None:
        """(asyncio) Lock the rows, merge each stored state with ours, write: one transaction."""
        lock_sql, lock_params = self._sql(
            queries.lock_document_states, id_list=[state.session_id for state in latest]
        )
        async with self._pool.acquire() as connection, connection.transaction():
            stored = {row[0]: row[1] for row in await connection.fetch(lock_sql, *lock_params)}
            merged = [merge(state, stored.get(state.session_id)) for state in latest]
            update_sql, params = self._sql(queries.update_documents_unnest, **_unnest_values(merged))
            await connection.execute(update_sql, *params)

    async def ping(self) -> None:
        # A server that stopped answering would otherwise hold a health check forever.
        with trio.move_on_after(PING_TIMEOUT_SECONDS) as scope:
            await super().ping()
        if scope.cancelled_caught:
            raise StorageError(f"PostgreSQL did not answer within {PING_TIMEOUT_SECONDS} s")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with trio.move_on_after(CLOSE_TIMEOUT_SECONDS, shield=True) as scope:
            await self._loop.run_aio_coroutine(self._pool.close())
        if scope.cancelled_caught:
            self._pool.terminate()


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _is_wrapped(group: BaseExceptionGroup[BaseException], error: BaseException) -> bool:
    """Whether `group` holds exactly `error`'s exceptions and nothing else.

    Compared leaf by leaf: trio re-derives groups on the way out, so `error` itself, when a
    group, may no longer be inside `group` as the same object.
    """
    return [id(leaf) for leaf in _leaves(group)] == [id(leaf) for leaf in _leaves(error)]


@asynccontextmanager
async def _open_loop() -> AsyncIterator[trio_asyncio.TrioEventLoop]:
    # open_loop runs nurseries, which wrap whatever leaves this context in exception groups.
    # Hand back exactly what the body raised, a group of the caller's own included.
    raised: BaseException | None = None
    try:
        async with trio_asyncio.open_loop() as loop:
            try:
                yield loop
            except BaseException as error:
                raised = error
                raise
    except BaseExceptionGroup as group:
        if raised is None or not _is_wrapped(group, raised):
            raise
    if raised is not None:
        # Raised outside the except block so the wrapping group is not chained on as context.
        raise raised


@asynccontextmanager
async def open_postgres_store(
    dsn: str,
    *,
    max_connections: int = MAX_CONNECTIONS,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> AsyncIterator[PostgresStore]:
    """A store on a pool of connections to `dsn` (a ``postgresql://`` URL).

    The asyncio loop lives inside this context: keep it open in a long-lived task (the app's
    service task), and use the store from any trio task meanwhile. Raises `StorageError`
    if the server cannot be reached within `connect_timeout` seconds.
    """
    async with _open_loop() as loop:
        try:
            with trio.fail_after(connect_timeout):
                pool = await loop.run_aio_coroutine(_create_pool(dsn, max_connections, connect_timeout))
        except trio.TooSlowError as error:
            raise StorageError(f"PostgreSQL did not answer within {connect_timeout} s") from error
        except _DRIVER_ERRORS as error:
            raise StorageError(f"cannot connect to PostgreSQL: {error}") from error
        store = PostgresStore(loop, pool)
        try:
            yield store
        finally:
            await store.aclose()
