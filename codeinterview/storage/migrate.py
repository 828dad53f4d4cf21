"""Bring a database's schema up to date with Alembic, configured from code (no alembic.ini)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from codeinterview.config import DatabaseTarget
from codeinterview.storage.base import StorageError

# `package:directory` makes Alembic find the scripts wherever the package is installed.
SCRIPT_LOCATION = "codeinterview.storage:migrations"
TARGET_ATTRIBUTE = "codeinterview_target"


def migration_url(target: DatabaseTarget) -> URL:
    """The SQLAlchemy URL migrations connect with: stdlib sqlite3, or asyncpg for PostgreSQL."""
    if target.backend == "sqlite" and target.sqlite_path is not None:
        return URL.create("sqlite+pysqlite", database=str(target.sqlite_path))
    if target.backend == "postgresql" and target.postgres_dsn is not None:
        return make_url(target.postgres_dsn).set(drivername="postgresql+asyncpg")
    raise ValueError(f"incomplete database target {target!r}")


def alembic_config(target: DatabaseTarget) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes[TARGET_ATTRIBUTE] = target
    return config


def upgrade(target: DatabaseTarget, revision: str = "head") -> None:
    """Migrate to `revision`; a database already there is left alone.

    Blocking, and it runs its own asyncio loop for PostgreSQL: call it from a CLI or a
    worker thread, never from a thread already running an event loop.
    """
    if target.sqlite_path is not None:
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        command.upgrade(alembic_config(target), revision)
    except (OSError, SQLAlchemyError) as error:
        raise StorageError(f"migration failed: {error}") from error
