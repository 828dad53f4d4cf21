"""Participant credentials: signed JWTs naming participant, session and role."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from codeinterview.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "codeinterview"


@dataclass(frozen=True, slots=True)
class Claims:
    participant_id: str
    session_id: str
    role: str
    expires_at_ms: int


def issue_token(secret: str, claims: Claims) -> str:
    payload = {
        "iss": ISSUER,
        "sub": claims.participant_id,
        "sid": claims.session_id,
        "role": claims.role,
        # Whole seconds, rounded up so the token never dies before its session.
        "exp": -(-claims.expires_at_ms // 1000),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> Claims:
    """Verify the signature; expiry is the session's, checked by the caller with the app's clock."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"verify_exp": False, "require": ["exp", "sub", "sid", "role", "iss"]},
        )
    except jwt.InvalidTokenError as error:
        raise Unauthorized("Invalid token", code="invalid_token") from error
    return _claims_from(payload)


def _claims_from(payload: dict[str, object]) -> Claims:
    participant_id, session_id = payload["sub"], payload["sid"]
    role, expiry = payload["role"], payload["exp"]
    if not (
        isinstance(participant_id, str)
        and isinstance(session_id, str)
        and isinstance(role, str)
        and isinstance(expiry, int)
    ):
        raise Unauthorized("Invalid token", code="invalid_token")
    return Claims(participant_id, session_id, role, expiry * 1000)
