"""Alembic's entry point, set up in code: `migrate.upgrade` passes the target in `attributes`."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import create_engine, event, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from codeinterview.config import DatabaseTarget
from codeinterview.storage.migrate import TARGET_ATTRIBUTE, migration_url
from codeinterview.storage.schema import metadata

MIGRATION_LOCK_KEY = 0x636F6465  # any constant shared by all nodes


def _target() -> DatabaseTarget:
    target = context.config.attributes.get(TARGET_ATTRIBUTE)
    if not isinstance(target, DatabaseTarget):
        raise RuntimeError("run migrations through codeinterview.storage.migrate.upgrade")
    return target


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


def _run_sqlite(target: DatabaseTarget) -> None:
    engine = create_engine(migration_url(target), poolclass=pool.NullPool)

    # pysqlite only opens transactions before DML, so a failed migration would leave
    # half its DDL behind; take over BEGIN so each run is all-or-nothing.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[attr-defined]

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def _run_locked(connection: Connection) -> None:
    # Several nodes starting together each migrate: the lock makes the others wait and then
    # find nothing left to do (released with the transaction).
    with connection.begin():
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.configure(connection=connection, target_metadata=metadata)
        context.run_migrations()


async def _run_postgres(target: DatabaseTarget) -> None:
    # asyncpg is already a dependency; a sync driver just for migrations would be a second one.
    engine = create_async_engine(migration_url(target), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_locked)
    finally:
        await engine.dispose()


def _run_offline(target: DatabaseTarget) -> None:
    context.configure(
        url=migration_url(target),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    target = _target()
    if context.is_offline_mode():
        _run_offline(target)
    elif target.backend == "sqlite":
        _run_sqlite(target)
    else:
        asyncio.run(_run_postgres(target))


main()
