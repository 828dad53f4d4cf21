from __future__ import annotations

import socket
import sqlite3

import pytest
import trio

from codeinterview.config import DatabaseTarget, parse_database_url
from codeinterview.storage import StorageError, Store, open_store
from codeinterview.storage.migrate import upgrade


async def test_ping_a_live_store(store: Store) -> None:
    await store.ping()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_unreachable_postgres_raises_storage_error() -> None:
    target = DatabaseTarget(
        backend="postgresql", postgres_dsn=f"postgresql://root@127.0.0.1:{_closed_port()}/test"
    )
    with trio.fail_after(10), pytest.raises(StorageError, match="cannot connect"):
        async with open_store(target):
            pass


async def test_migrating_an_unreachable_postgres_raises_storage_error() -> None:
    target = DatabaseTarget(
        backend="postgresql", postgres_dsn=f"postgresql://root@127.0.0.1:{_closed_port()}/test"
    )
    with trio.fail_after(10), pytest.raises(StorageError, match="migration failed"):
        await trio.to_thread.run_sync(upgrade, target)


async def test_sqlite_store_uses_wal_and_enforces_foreign_keys(sqlite_url: str) -> None:
    target = parse_database_url(sqlite_url)
    async with open_store(target) as store:
        await store.ping()
    assert target.sqlite_path is not None
    with sqlite3.connect(target.sqlite_path) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    connection.close()
    assert mode == "wal"


async def test_exceptions_leave_the_store_unwrapped(database_url: str) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with open_store(parse_database_url(database_url)):
            raise Boom

    group = ExceptionGroup("the caller's own", [Boom()])
    with pytest.raises(ExceptionGroup) as raised:
        async with open_store(parse_database_url(database_url)):
            raise group
    assert raised.value is group


async def test_cancelling_inside_the_store_context_closes_it(database_url: str) -> None:
    with trio.fail_after(10), trio.CancelScope() as scope:
        async with open_store(parse_database_url(database_url)) as store:
            await store.ping()
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
