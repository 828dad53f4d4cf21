"""Failed lookups per client address: 401, 403 and 404 answers on session paths are counted,
and a client over the limit gets 429 before any work is done, so scanning the 8-hex-digit id
space (or guessing invites) is impractical."""

from __future__ import annotations

from quart import Quart, Response, request

from codeinterview.http.errors import error_response

GUARDED_PREFIX = "/api/v1/sessions/"
FAILURES = frozenset({401, 403, 404})


def install_lookup_guard(app: Quart) -> None:
    @app.before_request
    async def refuse_scanners() -> Response | None:
        if not request.path.startswith(GUARDED_PREFIX):
            return None
        limits = app.extensions["codeinterview"].limits
        retry_after = limits.blocked("failures", request.remote_addr or "unknown")
        if retry_after is None:
            return None
        app.extensions["codeinterview"].metrics.rate_limited.labels("failures").inc()
        response = error_response(429, "Too many failed requests; try again later", "rate_limited")
        response.headers["Retry-After"] = str(retry_after)
        return response

    @app.after_request
    async def count_failures(response: Response) -> Response:
        if response.status_code in FAILURES and request.path.startswith(GUARDED_PREFIX):
            app.extensions["codeinterview"].limits.hit("failures", request.remote_addr or "unknown")
        return response
