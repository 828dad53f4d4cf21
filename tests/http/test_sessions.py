"""Sessions: create, read, change language, end, expire, sweep."""

from __future__ import annotations

import re

import httpx

from codeinterview.clock import ManualClock
from tests.http.api import assert_error, bearer, create_session, join
from tests.http.conftest import StartServer


async def test_create_returns_the_session_creator_token_and_invites(
    client: httpx.AsyncClient,
) -> None:
    created = await create_session(client)
    data = created.body
    assert re.fullmatch(r"[0-9a-f]{8}", created.id)
    assert data["code"] == "" and data["language"] == "javascript"
    assert data["expires_at"] == data["created_at"] + 86_400_000  # type: ignore[operator]
    assert data["updated_at"] == data["created_at"]
    assert data["creator_id"] == created.creator_id
    assert data["participants"] == [
        {
            "id": created.creator_id,
            "name": "Ada",
            "role": "interviewer",
            "color": "hsl(250, 84%, 54%)",
            "joined_at": data["created_at"],
            "is_online": False,
        }
    ]
    invites = {created.candidate_invite, created.interviewer_invite}
    assert len(invites) == 2
    assert all(len(invite) >= 22 for invite in invites)  # >= 128 bits in url-safe base64


async def test_create_with_code_and_language(client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="print('hi')\n", language="python")
    assert created.body["code"] == "print('hi')\n"
    assert created.body["language"] == "python"
    response = await client.get(f"/api/v1/sessions/{created.id}", headers=bearer(created.token))
    assert response.json()["data"]["code"] == "print('hi')\n"


async def test_ttl_follows_the_setting(start_server: StartServer) -> None:
    server = await start_server(session_ttl_seconds=60)
    async with server.client() as client:
        created = await create_session(client)
    assert created.body["expires_at"] == created.body["created_at"] + 60_000  # type: ignore[operator]


async def test_invites_are_shown_to_interviewers_only(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    as_interviewer = await client.get(f"/api/v1/sessions/{created.id}", headers=bearer(created.token))
    as_candidate = await client.get(
        f"/api/v1/sessions/{created.id}", headers=bearer(str(candidate["token"]))
    )
    assert as_interviewer.json()["data"]["invites"] == created.body["invites"]
    assert "invites" not in as_candidate.json()["data"]
    assert len(as_candidate.json()["data"]["participants"]) == 2


async def test_patch_language(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    response = await client.patch(
        f"/api/v1/sessions/{created.id}", json={"language": "html"}, headers=bearer(created.token)
    )
    assert response.status_code == 200
    assert response.json()["data"]["language"] == "html"
    code = await client.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(created.token))
    assert code.json()["data"]["language"] == "html"


async def test_patch_rejects_unknown_language(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    response = await client.patch(
        f"/api/v1/sessions/{created.id}", json={"language": "cobol"}, headers=bearer(created.token)
    )
    body = assert_error(response, 422, "validation_error")
    assert body["details"][0]["field"] == "language"  # type: ignore[index]


async def test_only_an_interviewer_ends_a_session(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    url = f"/api/v1/sessions/{created.id}"
    assert_error(await client.delete(url, headers=bearer(str(candidate["token"]))), 403, "not_interviewer")
    ended = await client.delete(url, headers=bearer(created.token))
    assert ended.status_code == 200
    assert ended.json()["data"]["ended_at"] is not None
    body = assert_error(await client.get(url, headers=bearer(created.token)), 410, "session_ended")
    assert body["error"] == "Session has ended"
    assert_error(
        await client.post(f"{url}/participants", json={"invite": created.candidate_invite, "name": "x", "color": "y"}),
        410,
    )


async def test_expired_session_answers_410(client: httpx.AsyncClient, clock: ManualClock) -> None:
    created = await create_session(client)
    url = f"/api/v1/sessions/{created.id}"
    clock.advance(86_400 - 1)
    assert (await client.get(url, headers=bearer(created.token))).status_code == 200
    clock.advance(1)
    body = assert_error(await client.get(url, headers=bearer(created.token)), 410, "session_expired")
    assert body["error"] == "Session has expired"
    join_payload = {"invite": created.candidate_invite, "name": "Late", "color": "red"}
    assert_error(await client.post(f"{url}/participants", json=join_payload), 410)
    assert_error(await client.get(f"{url}/code", headers=bearer(created.token)), 410)


async def test_sweeper_deletes_sessions_past_retention(
    start_server: StartServer, clock: ManualClock
) -> None:
    first = await start_server(retention_seconds=3600)
    async with first.client() as client:
        created = await create_session(client)
        kept = await create_session(client)
    clock.advance(86_400 + 3600 + 1)
    # A server sweeps once before it starts answering, then every sweep interval.
    second = await start_server(retention_seconds=3600, session_ttl_seconds=10 * 86_400)
    async with second.client() as client:
        fresh = await create_session(client)
        gone = await client.get(f"/api/v1/sessions/{created.id}", headers=bearer(created.token))
        assert_error(gone, 404, "session_not_found")
        assert_error(
            await client.get(f"/api/v1/sessions/{kept.id}", headers=bearer(kept.token)), 404
        )
        alive = await client.get(f"/api/v1/sessions/{fresh.id}", headers=bearer(fresh.token))
        assert alive.status_code == 200


async def test_expired_but_retained_is_410_not_404(start_server: StartServer, clock: ManualClock) -> None:
    server = await start_server(retention_seconds=3600)
    async with server.client() as client:
        created = await create_session(client)
        clock.advance(86_400 + 3599)
        restarted = await start_server(retention_seconds=3600)
        async with restarted.client() as other:
            response = await other.get(f"/api/v1/sessions/{created.id}", headers=bearer(created.token))
            assert_error(response, 410, "session_expired")
