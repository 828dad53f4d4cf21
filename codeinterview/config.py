"""Settings from the environment (and a `.env` file), with the rules for the secret key."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///./codeinterview.db"


class ConfigError(Exception):
    """The settings cannot run a server (for example PostgreSQL without a SECRET_KEY)."""


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """A database URL as the code needs it: which backend, and where."""

    backend: str  # "sqlite" or "postgresql"
    sqlite_path: Path | None = None
    postgres_dsn: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = DEFAULT_DATABASE_URL
    secret_key: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    session_ttl_seconds: int = Field(default=86_400, gt=0)
    retention_seconds: int = Field(default=7 * 86_400, ge=0)
    sweep_interval_seconds: float = Field(default=3_600.0, gt=0)
    open_access: bool = False

    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    max_code_bytes: int = Field(default=512 * 1024, gt=0)
    ws_max_message_bytes: int = Field(default=1024 * 1024, gt=0)

    flush_interval_seconds: float = Field(default=1.0, gt=0)
    flush_retry_max_seconds: float = Field(default=30.0, gt=0)
    idle_timeout_seconds: float = Field(default=30.0, gt=0)
    outbound_queue_size: int = Field(default=512, gt=0)
    actor_inbox_size: int = Field(default=1024, gt=0)
    ws_auth_timeout_seconds: float = Field(default=5.0, gt=0)
    ws_ping_interval_seconds: float = Field(default=20.0, gt=0)
    ws_ping_timeout_seconds: float = Field(default=20.0, gt=0)
    ws_close_timeout_seconds: float = Field(default=2.0, gt=0)
    shutdown_grace_seconds: float = Field(default=10.0, gt=0)

    rate_limits_enabled: bool = True
    rate_limit_sessions: str = "20/minute"
    rate_limit_joins: str = "30/minute"
    rate_limit_failures: str = "60/minute"
    rate_limit_ws_messages: str = "100/second;3000/minute"
    ws_preauth_max_bytes: int = Field(default=8192, gt=0)

    redis_url: str | None = None
    cluster_resync_seconds: float = Field(default=10.0, gt=0)

    log_format: Literal["console", "json"] | None = None
    log_level: str = "INFO"

    @field_validator(
        "rate_limit_sessions", "rate_limit_joins", "rate_limit_failures", "rate_limit_ws_messages"
    )
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as error:
            raise ValueError(f"not a rate limit like '20/minute': {error}") from None
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def database(self) -> DatabaseTarget:
        return parse_database_url(self.database_url)

    def secret(self) -> str:
        """The token-signing key; `resolve_secret_key` must have run first."""
        if self.secret_key is None:
            raise ConfigError("SECRET_KEY is not set")
        return self.secret_key.get_secret_value()


def parse_database_url(url: str) -> DatabaseTarget:
    """Accept URLs as people write them: sqlite:///rel.db, sqlite:////abs.db, postgresql://..."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError("SQLite needs a file path, e.g. sqlite:///./codeinterview.db")
        return DatabaseTarget(backend="sqlite", sqlite_path=Path(parsed.database))
    if backend in {"postgresql", "postgres"}:
        plain = parsed.set(drivername="postgresql")
        return DatabaseTarget(backend="postgresql", postgres_dsn=plain.render_as_string(hide_password=False))
    raise ConfigError(f"unsupported database URL scheme {parsed.drivername!r}")


def resolve_secret_key(settings: Settings) -> Settings:
    """Return settings that hold a secret key, generating one beside a SQLite file if needed."""
    if settings.secret_key is not None:
        return settings
    target = settings.database
    if target.sqlite_path is None:
        raise ConfigError("SECRET_KEY must be set when using PostgreSQL")
    key_path = target.sqlite_path.with_name(target.sqlite_path.name + ".secret_key")
    if key_path.exists():
        key = key_path.read_text().strip()
    else:
        key = secrets.token_urlsafe(48)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        log.warning("SECRET_KEY is not set; generated one and stored it in %s", key_path)
    return settings.model_copy(update={"secret_key": SecretStr(key)})
