"""Settings: database URLs as people write them, and the secret-key rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codeinterview.config import ConfigError, Settings, parse_database_url, resolve_secret_key


@pytest.mark.parametrize(
    ("url", "backend", "where"),
    [
        ("sqlite:///relative.db", "sqlite", "relative.db"),
        ("sqlite:///./data/x.db", "sqlite", "data/x.db"),
        ("sqlite:////absolute/path.db", "sqlite", "/absolute/path.db"),
        ("postgresql://user@host:5432/db", "postgresql", "postgresql://user@host:5432/db"),
        ("postgres://u:p@h/db", "postgresql", "postgresql://u:p@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql", "postgresql://u@h/db"),
    ],
)
def test_database_urls(url: str, backend: str, where: str) -> None:
    target = parse_database_url(url)
    assert target.backend == backend
    assert (str(target.sqlite_path) if backend == "sqlite" else target.postgres_dsn) == where


@pytest.mark.parametrize("url", ["mysql://x@y/z", "sqlite://", "sqlite:///:memory:"])
def test_unusable_database_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_database_url(url)


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SESSION_TTL_SECONDS=60\nCORS_ORIGINS=http://a.test, http://b.test\n")
    monkeypatch.setenv("OPEN_ACCESS", "true")
    settings = Settings()
    assert settings.session_ttl_seconds == 60
    assert settings.cors_origins == ["http://a.test", "http://b.test"]
    assert settings.open_access is True
    assert settings.database_url == "sqlite:///./codeinterview.db"


def test_sqlite_generates_and_keeps_a_secret_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/app.db", secret_key=None)
    first = resolve_secret_key(settings).secret()
    key_file = tmp_path / "app.db.secret_key"
    assert key_file.read_text().strip() == first and len(first) >= 32
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert "SECRET_KEY is not set" in caplog.text
    assert resolve_secret_key(settings).secret() == first


def test_postgres_requires_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        resolve_secret_key(Settings(database_url="postgresql://u@h/db", secret_key=None))


def test_serve_refuses_postgres_without_secret_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["DATABASE_URL"] = "postgresql://root@127.0.0.1:1/none"
    result = subprocess.run(
        [sys.executable, "-m", "codeinterview.cli", "serve", "--port", "0"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "SECRET_KEY must be set" in result.stderr


def test_migrate_command_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "migrated.db"
    result = subprocess.run(
        [sys.executable, "-m", "codeinterview.cli", "migrate", "--database-url", f"sqlite:///{database}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}
    assert {"sessions", "participants", "snapshots"} <= tables
