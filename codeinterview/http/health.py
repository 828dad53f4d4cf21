"""Liveness: the process answers; the body also says whether the database does."""

from __future__ import annotations

import trio
from quart import Blueprint, current_app
from quart_schema import document_response

from codeinterview.http import models
from codeinterview.storage.base import StorageError

health = Blueprint("health", __name__, url_prefix="/api/v1")

PING_TIMEOUT_SECONDS = 2.0


@health.get("/health")
@document_response(models.HealthOut)
async def get_health() -> tuple[dict[str, object], int]:
    runtime = current_app.extensions["codeinterview"]
    database = "ok"
    try:
        with trio.fail_after(PING_TIMEOUT_SECONDS):
            await runtime.store.ping()
    except (StorageError, trio.TooSlowError):
        database = "unavailable"
    status = {
        "status": "ok" if database == "ok" else "degraded",
        "timestamp": runtime.service.clock.now_ms(),
        "database": database,
    }
    # The guide's flat shape, and the same fields inside the usual envelope.
    return {**status, "success": True, "data": status}, 200
