"""Token misuse: missing, malformed, forged, other session, removed, expired."""

from __future__ import annotations

import httpx
import jwt
import pytest

from codeinterview.clock import ManualClock
from tests.http.api import assert_error, bearer, create_session, join

PROTECTED = [
    ("GET", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("GET", "/participants"),
    ("GET", "/code"),
    ("PUT", "/code"),
    ("GET", "/snapshots"),
    ("POST", "/snapshots"),
    ("GET", "/snapshots/1"),
]
BODIES = {"PATCH": {"language": "python"}, "PUT": {"code": "x"}, "POST": {}}


@pytest.mark.parametrize(("method", "suffix"), PROTECTED)
async def test_no_credential_is_401_whether_or_not_the_session_exists(
    client: httpx.AsyncClient, method: str, suffix: str
) -> None:
    created = await create_session(client)
    answers = []
    for session_id in (created.id, "0badc0de"):
        response = await client.request(
            method, f"/api/v1/sessions/{session_id}{suffix}", json=BODIES.get(method)
        )
        assert_error(response, 401, "missing_token")
        answers.append(response.json())
    assert answers[0] == answers[1]


async def test_malformed_and_forged_tokens(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    url = f"/api/v1/sessions/{created.id}"
    assert_error(await client.get(url, headers={"Authorization": "Basic abc"}), 401, "invalid_token")
    assert_error(await client.get(url, headers={"Authorization": "Bearer"}), 401, "invalid_token")
    assert_error(await client.get(url, headers=bearer("garbage")), 401, "invalid_token")
    claims = jwt.decode(created.token, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-key-of-sufficient-length!!", algorithm="HS256")
    assert_error(await client.get(url, headers=bearer(forged)), 401, "invalid_token")
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert_error(await client.get(url, headers=bearer(unsigned)), 401, "invalid_token")


async def test_token_of_another_session_is_403(client: httpx.AsyncClient) -> None:
    mine = await create_session(client)
    theirs = await create_session(client)
    response = await client.get(f"/api/v1/sessions/{theirs.id}", headers=bearer(mine.token))
    assert_error(response, 403, "wrong_session")
    response = await client.put(
        f"/api/v1/sessions/{theirs.id}/code", json={"code": "pwned"}, headers=bearer(mine.token)
    )
    assert_error(response, 403, "wrong_session")


async def test_token_stops_working_with_its_session(client: httpx.AsyncClient, clock: ManualClock) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    claims = jwt.decode(str(candidate["token"]), options={"verify_signature": False})
    assert claims["exp"] * 1000 >= created.body["expires_at"]  # type: ignore[operator]
    assert claims["role"] == "candidate" and claims["sid"] == created.id
    clock.advance(86_401)
    response = await client.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(str(candidate["token"])))
    assert_error(response, 410, "session_expired")
