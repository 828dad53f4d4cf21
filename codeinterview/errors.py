"""Errors the application raises on purpose; the HTTP edge turns each into the envelope."""

from __future__ import annotations


class ApiError(Exception):
    """A refusal the client should see, with its HTTP status and machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class Unauthorized(ApiError):
    """No credential, or one that is invalid, expired or revoked."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """A valid credential that does not allow this action."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """The thing named does not exist."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request clashes with the current state."""

    status = 409
    code = "conflict"


class Gone(ApiError):
    """The session expired or was ended."""

    status = 410
    code = "gone"


class PayloadTooLarge(ApiError):
    """A body or a field is over its configured limit."""

    status = 413
    code = "payload_too_large"


class Unavailable(ApiError):
    """A dependency (the database) does not answer; retrying later may work."""

    status = 503
    code = "unavailable"
