"""Operations: liveness (`/api/v1/health`, which also says whether the database answers) and
Prometheus metrics (`/metrics`)."""

from __future__ import annotations

import trio
from prometheus_client import CONTENT_TYPE_LATEST
from quart import Blueprint, Response, current_app
from quart_schema import document_response, hide

from codeinterview.http import models
from codeinterview.runtime import Runtime
from codeinterview.storage.base import StorageError

health = Blueprint("health", __name__)

PING_TIMEOUT_SECONDS = 2.0


@health.get("/metrics")
@hide
async def get_metrics() -> Response:
    runtime = current_app.extensions["codeinterview"]
    return Response(runtime.metrics.render(), content_type=CONTENT_TYPE_LATEST)


@health.get("/api/v1/ready")
@document_response(models.Envelope[models.ReadyOut])
@document_response(models.ErrorOut, 503)
async def get_ready() -> tuple[dict[str, object], int]:
    """Readiness: the database answers and the server is not shutting down."""
    runtime = current_app.extensions["codeinterview"]
    if runtime.drained:
        return _not_ready("shutting down")
    if not await _database_answers(runtime):
        return _not_ready("database unavailable")
    return {"success": True, "data": {"ready": True}}, 200


def _not_ready(why: str) -> tuple[dict[str, object], int]:
    return {"success": False, "error": f"Not ready: {why}", "code": "not_ready"}, 503


async def _database_answers(runtime: Runtime) -> bool:
    try:
        with trio.fail_after(PING_TIMEOUT_SECONDS):
            await runtime.store.ping()
    except (StorageError, trio.TooSlowError):
        return False
    return True


@health.get("/api/v1/health")
@document_response(models.HealthOut)
async def get_health() -> tuple[dict[str, object], int]:
    runtime = current_app.extensions["codeinterview"]
    database = "ok" if await _database_answers(runtime) else "unavailable"
    status = {
        "status": "ok" if database == "ok" else "degraded",
        "timestamp": runtime.service.clock.now_ms(),
        "database": database,
    }
    # The guide's flat shape, and the same fields inside the usual envelope.
    return {**status, "success": True, "data": status}, 200
