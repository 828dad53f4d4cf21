from __future__ import annotations

import asyncio

import sqlalchemy as sa
import trio
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from codeinterview.config import DatabaseTarget, parse_database_url
from codeinterview.storage import open_store
from codeinterview.storage.migrate import migration_url, upgrade
from codeinterview.storage.schema import metadata
from tests.storage.factories import create_session


async def test_migrating_again_is_a_no_op(database_url: str) -> None:
    target = parse_database_url(database_url)
    async with open_store(target) as store:
        session = await create_session(store)

    await trio.to_thread.run_sync(upgrade, target)
    await trio.to_thread.run_sync(upgrade, target)

    async with open_store(target) as store:
        assert await store.get_session(session.id) == session


def _differences(connection: Connection) -> list[object]:
    # Server defaults are left out: SQLite reflects DEFAULT '' in a form alembic misreads.
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _migrated_schema_differences(target: DatabaseTarget) -> list[object]:
    if target.backend == "sqlite":
        engine = sa.create_engine(migration_url(target))
        try:
            with engine.connect() as connection:
                return _differences(connection)
        finally:
            engine.dispose()

    async def compare() -> list[object]:
        engine = create_async_engine(migration_url(target))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_differences)
        finally:
            await engine.dispose()

    return asyncio.run(compare())


async def test_migrations_build_the_schema_the_code_declares(database_url: str) -> None:
    target = parse_database_url(database_url)

    differences = await trio.to_thread.run_sync(_migrated_schema_differences, target)

    assert differences == []
