"""Persistence: one `Store` interface, on PostgreSQL or SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from codeinterview.config import DatabaseTarget
from codeinterview.storage.base import (
    DocumentState,
    ParticipantExists,
    ParticipantRecord,
    SessionIdTaken,
    SessionRecord,
    SnapshotRecord,
    StorageError,
    Store,
)

__all__ = [
    "DocumentState",
    "ParticipantExists",
    "ParticipantRecord",
    "SessionIdTaken",
    "SessionRecord",
    "SnapshotRecord",
    "StorageError",
    "Store",
    "open_store",
]


@asynccontextmanager
async def open_store(target: DatabaseTarget) -> AsyncIterator[Store]:
    """Open the backend `target` names and close it on exit; the schema must be migrated.

    For PostgreSQL the asyncio loop that drives asyncpg lives inside this context, so
    enter it in a long-lived task (the app's service task) and keep it open while any
    task uses the store.
    """
    # Imported here, not at the top: importing trio_asyncio patches asyncio's loop policy
    # for the whole process, which a SQLite deployment has no reason to pay for.
    if target.backend == "sqlite" and target.sqlite_path is not None:
        from codeinterview.storage.sqlite import open_sqlite_store

        async with open_sqlite_store(target.sqlite_path) as store:
            yield store
    elif target.backend == "postgresql" and target.postgres_dsn is not None:
        from codeinterview.storage.postgres import open_postgres_store

        async with open_postgres_store(target.postgres_dsn) as pg_store:
            yield pg_store
    else:
        raise ValueError(f"incomplete database target {target!r}")
