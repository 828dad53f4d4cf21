"""Every failure leaves as the envelope `{"success": false, "error", "code"}` with its status."""

from __future__ import annotations

import logging

import trio
from pydantic import ValidationError
from quart import Quart, Response, jsonify
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from codeinterview.errors import ApiError
from codeinterview.storage.base import StorageError

log = logging.getLogger(__name__)


def error_response(
    status: int, message: str, code: str, details: list[dict[str, object]] | None = None
) -> Response:
    body: dict[str, object] = {"success": False, "error": message, "code": code}
    if details is not None:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


def install_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        response = error_response(error.status, error.message, error.code)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(RequestSchemaValidationError)
    async def invalid_request(error: RequestSchemaValidationError) -> Response:
        cause = error.validation_error
        if isinstance(cause, ValidationError):
            details = [_detail(item) for item in cause.errors(include_url=False, include_input=False)]
            fields = ", ".join(str(d["field"]) or "body" for d in details)
            return error_response(422, f"Invalid request: {fields}", "validation_error", details)
        return error_response(422, f"Invalid request: {cause}", "validation_error")

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = _HTTP_MESSAGES.get(status, error.description or error.name)
        response = error_response(status, message, error.name.lower().replace(" ", "_"))
        for header in ("Allow", "Retry-After"):
            if error.get_response().headers.get(header):
                response.headers[header] = error.get_response().headers[header]
        return response

    @app.errorhandler(UnicodeDecodeError)
    async def undecodable(error: UnicodeDecodeError) -> Response:
        return error_response(400, "Malformed request: the body must be UTF-8 JSON", "bad_request")

    @app.errorhandler(StorageError)
    async def storage_error(error: StorageError) -> Response:
        log.warning("database unavailable: %s", error)
        return error_response(503, "Database unavailable, try again shortly", "unavailable")

    @app.errorhandler(trio.TooSlowError)
    async def too_slow(error: trio.TooSlowError) -> Response:
        return error_response(503, "The server is busy, try again shortly", "unavailable")

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "Internal server error", "internal_error")


def _detail(item: object) -> dict[str, object]:
    assert isinstance(item, dict)
    location = ".".join(str(part) for part in item.get("loc", ()))
    return {"field": location, "message": str(item.get("msg", "")), "type": str(item.get("type", ""))}


_HTTP_MESSAGES = {
    400: "Malformed request: the body must be valid JSON",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
}
