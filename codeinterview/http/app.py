"""The application factory: one Quart-Trio app serving REST, the WebSocket and the web page."""

from __future__ import annotations

import structlog
from quart import Response, request
from quart_schema import QuartSchema
from quart_trio import QuartTrio

from codeinterview.clock import Clock, WallClock
from codeinterview.config import Settings
from codeinterview.http import hypercorn_fastpath, hypercorn_guard, hypercorn_lean
from codeinterview.http.errors import install_error_handlers
from codeinterview.http.guard import install_lookup_guard
from codeinterview.http.health import health
from codeinterview.http.page import page
from codeinterview.http.request_body import BODY_WAIT_SECONDS, ResponseAfterBody
from codeinterview.http.rest import api
from codeinterview.http.socket import SessionSockets
from codeinterview.http.ws import socket_handler
from codeinterview.logs import bind_session
from codeinterview.runtime import Runtime, run_runtime


def create_app(settings: Settings, *, clock: Clock | None = None) -> QuartTrio:
    """Build the app; `settings` must already hold a secret key (see `resolve_secret_key`)."""
    settings.secret()  # fail at build time, not on the first request
    hypercorn_guard.install()
    hypercorn_fastpath.install()
    hypercorn_lean.install()
    app = QuartTrio(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        BACKGROUND_TASK_SHUTDOWN_TIMEOUT=settings.shutdown_grace_seconds,
        JSON_SORT_KEYS=False,
    )
    QuartSchema(
        app,
        openapi_path="/api/v1/openapi.json",
        swagger_ui_path="/api/v1/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
        info={"title": "codeinterview API", "version": "1.0.0"},
        security_schemes={"bearer": {"type": "http", "scheme": "bearer", "bearer_format": "JWT"}},
    )
    install_error_handlers(app)
    _install_log_context(app)
    install_lookup_guard(app)
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(page)
    _install_lifespan(app, settings, clock or WallClock())
    _install_cors(app, settings.cors_origins)
    # Outermost, so that session sockets reach their handler through nothing else: every
    # layer is a coroutine on every open connection's stack, and some are on every frame's path.
    app.asgi_app = SessionSockets(  # type: ignore[assignment, method-assign]
        ResponseAfterBody(app.asgi_app, settings.max_body_bytes, BODY_WAIT_SECONDS),
        socket_handler(lambda: app.extensions["codeinterview"]),
    )
    return app


def _install_lifespan(app: QuartTrio, settings: Settings, clock: Clock) -> None:
    @app.before_serving
    async def start_runtime() -> None:
        app.extensions["codeinterview"] = await app.nursery.start(run_runtime, settings, clock)

    @app.after_serving
    async def stop_runtime() -> None:
        runtime: Runtime | None = app.extensions.get("codeinterview")
        if runtime is not None:
            await runtime.stop()


def _install_log_context(app: QuartTrio) -> None:
    @app.before_request
    async def bind_log_context() -> None:
        session_id = (request.view_args or {}).get("session_id")
        if isinstance(session_id, str):
            bind_session(session_id)
        else:
            structlog.contextvars.clear_contextvars()


def _install_cors(app: QuartTrio, origins: list[str]) -> None:
    allowed = set(origins)

    @app.after_request
    async def add_cors_headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin is not None and ("*" in allowed or origin in allowed):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "600"
        return response
