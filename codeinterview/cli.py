"""`codeinterview serve` and `codeinterview migrate`."""

from __future__ import annotations

import argparse
import sys

import trio

from codeinterview.config import ConfigError, Settings, parse_database_url, resolve_secret_key
from codeinterview.logs import configure_logging
from codeinterview.storage.migrate import upgrade


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codeinterview", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--database-url", help="overrides DATABASE_URL")
    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--database-url", help="overrides DATABASE_URL")
    return parser


def load_settings(database_url: str | None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    parse_database_url(settings.database_url)  # early, so a bad URL is a clear error
    return settings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        settings = load_settings(args.database_url)
        configure_logging(settings.log_format, settings.log_level)
        if args.command == "migrate":
            upgrade(settings.database)
            return 0
        settings = resolve_secret_key(settings)
        if settings.database.backend == "sqlite":
            upgrade(settings.database)  # the embedded default needs no separate step
        from codeinterview.server import run_server

        trio.run(run_server, settings, args.host, args.port)
    except ConfigError as error:
        print(f"codeinterview: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
