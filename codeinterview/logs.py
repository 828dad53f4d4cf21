"""Logging: one JSON object per line in production, readable lines in development.

Every record about a session carries `session_id` (and `participant_id` inside a connection)
from context variables bound where the work happens; trio tasks inherit them at spawn time.
Tokens and invite secrets are never bound or logged.
"""

from __future__ import annotations

import logging
import sys

import structlog

_SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(format: str | None = None, level: str = "INFO") -> None:
    """`format` is "json" or "console"; by default JSON unless stderr is a terminal."""
    chosen = format or ("console" if sys.stderr.isatty() else "json")
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if chosen == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def bind_session(session_id: str, participant_id: str | None = None) -> None:
    """Name the session (and participant) on every log line of the current task from now on."""
    structlog.contextvars.clear_contextvars()
    if participant_id is None:
        structlog.contextvars.bind_contextvars(session_id=session_id)
    else:
        structlog.contextvars.bind_contextvars(session_id=session_id, participant_id=participant_id)
