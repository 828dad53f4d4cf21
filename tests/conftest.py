"""Database fixtures shared by every test package: real SQLite and real PostgreSQL, migrated."""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import trio
from sqlalchemy.engine import make_url

from codeinterview.config import parse_database_url
from codeinterview.storage import Store, open_store
from codeinterview.storage.migrate import upgrade

DEFAULT_TEST_DATABASE_URL = "postgresql://root@127.0.0.1:5432/test"


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of its own for this run, dropped at the end.

    Fails (never skips) when the server is unreachable: CI must not pass without PostgreSQL.
    """
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    name = f"codeinterview_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
        # Test data needs no durability; not waiting for each commit's fsync halves the run.
        asyncio.run(_admin(admin_url, f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        pytest.fail(
            f"PostgreSQL is not reachable at TEST_DATABASE_URL={admin_url!r}: {error!r}. "
            "Start PostgreSQL or point TEST_DATABASE_URL at one; these tests never skip.",
            pytrace=False,
        )
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(parse_database_url(url))
        yield url
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Migrating once and copying the file keeps a fresh database per test cheap.
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(parse_database_url(f"sqlite:///{path}"))
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A migrated SQLite file of this test's own, as ``sqlite:////abs/path/test.db``."""
    path = tmp_path / "test.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs twice: once per backend, same body."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with open_store(parse_database_url(database_url)) as opened:
        yield opened


# -- a watchdog for hung tests ------------------------------------------------------------------
# A trio test that hangs would hold CI until its overall deadline. The watchdog fails it
# instead, after printing where every task of the run was waiting.

WATCHDOG_SECONDS = float(os.environ.get("TEST_WATCHDOG_SECONDS", "180"))


class TestHung(Exception):
    """A test ran past the watchdog's limit."""


def _task_tree(task: trio.lowlevel.Task, depth: int = 0) -> list[str]:
    lines = [f"{'  ' * depth}{task.name}"]
    for frame, lineno in task.iter_await_frames():
        lines.append(f"{'  ' * depth}  at {frame.f_code.co_filename}:{lineno} in {frame.f_code.co_name}")
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            lines.extend(_task_tree(child, depth + 1))
    return lines


def _watched(test: Callable[..., Awaitable[None]], name: str) -> Callable[..., Awaitable[None]]:
    @functools.wraps(test)
    async def run_watched(**kwargs: object) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch, name)
            await test(**kwargs)
            nursery.cancel_scope.cancel()

    return run_watched


async def _watch(name: str) -> None:
    await trio.sleep(WATCHDOG_SECONDS)
    tree = "\n".join(_task_tree(trio.lowlevel.current_root_task()))
    print(f"\n{name} hung; tasks:\n{tree}", file=sys.stderr)
    raise TestHung(f"{name} ran longer than {WATCHDOG_SECONDS} s")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        test = getattr(item, "obj", None)
        if inspect.iscoroutinefunction(test) and not hasattr(test, "hypothesis"):
            item.obj = _watched(test, item.nodeid)  # type: ignore[attr-defined]
