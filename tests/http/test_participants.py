"""Joining by invite, listing, renaming, leaving and removal."""

from __future__ import annotations

import uuid

import httpx

from codeinterview.clock import ManualClock
from tests.http.api import assert_error, bearer, create_session, join


async def test_role_comes_from_the_invite(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    interviewer = await join(client, created.id, created.interviewer_invite, name="Linus")
    assert candidate["role"] == "candidate" and interviewer["role"] == "interviewer"
    assert candidate["token"] and candidate["token"] != interviewer["token"]
    assert uuid.UUID(str(candidate["id"]))
    assert candidate["is_online"] is False
    sneaky = await client.post(
        f"/api/v1/sessions/{created.id}/participants",
        json={"invite": created.candidate_invite, "name": "x", "color": "y", "role": "interviewer"},
    )
    assert_error(sneaky, 422, "validation_error")


async def test_join_with_a_chosen_id_and_duplicate(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    chosen = str(uuid.uuid4())
    payload = {"invite": created.candidate_invite, "name": "Grace", "color": "#123", "id": chosen}
    first = await client.post(f"/api/v1/sessions/{created.id}/participants", json=payload)
    assert first.status_code == 201 and first.json()["data"]["id"] == chosen
    again = await client.post(f"/api/v1/sessions/{created.id}/participants", json=payload)
    assert_error(again, 409, "participant_exists")


async def test_bad_invites_are_refused_alike(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    payload = {"invite": "not-the-invite", "name": "Mallory", "color": "red"}
    wrong = await client.post(f"/api/v1/sessions/{created.id}/participants", json=payload)
    unknown = await client.post("/api/v1/sessions/00000000/participants", json=payload)
    assert_error(wrong, 401, "invalid_invite")
    assert_error(unknown, 401, "invalid_invite")
    assert wrong.json() == unknown.json()
    missing = await client.post(
        f"/api/v1/sessions/{created.id}/participants", json={"name": "Mallory", "color": "red"}
    )
    assert_error(missing, 401, "missing_invite")
    listed = await client.get(f"/api/v1/sessions/{created.id}/participants", headers=bearer(created.token))
    assert len(listed.json()["data"]) == 1


async def test_list_participants(client: httpx.AsyncClient, clock: ManualClock) -> None:
    created = await create_session(client)
    clock.advance(1)  # join order is time order
    candidate = await join(client, created.id, created.candidate_invite)
    response = await client.get(
        f"/api/v1/sessions/{created.id}/participants", headers=bearer(str(candidate["token"]))
    )
    assert response.status_code == 200
    people = response.json()["data"]
    assert [p["role"] for p in people] == ["interviewer", "candidate"]
    assert people[1]["id"] == candidate["id"]


async def test_participants_change_only_themselves(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    url = f"/api/v1/sessions/{created.id}/participants"
    mine = await client.patch(
        f"{url}/{candidate['id']}",
        json={"name": "Grace H.", "color": "teal"},
        headers=bearer(str(candidate["token"])),
    )
    assert mine.status_code == 200
    assert mine.json()["data"]["name"] == "Grace H." and mine.json()["data"]["color"] == "teal"
    theirs = await client.patch(
        f"{url}/{created.creator_id}", json={"name": "Pwned"}, headers=bearer(str(candidate["token"]))
    )
    assert_error(theirs, 403, "not_self")
    by_interviewer = await client.patch(
        f"{url}/{candidate['id']}", json={"name": "Renamed"}, headers=bearer(created.token)
    )
    assert_error(by_interviewer, 403, "not_self")


async def test_candidates_cannot_remove_others(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    first = await join(client, created.id, created.candidate_invite)
    second = await join(client, created.id, created.candidate_invite, name="Other")
    url = f"/api/v1/sessions/{created.id}/participants"
    for target in (created.creator_id, second["id"]):
        response = await client.delete(f"{url}/{target}", headers=bearer(str(first["token"])))
        assert_error(response, 403, "not_interviewer")
    listed = await client.get(url, headers=bearer(created.token))
    assert len(listed.json()["data"]) == 3


async def test_removed_participant_token_stops_working(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    url = f"/api/v1/sessions/{created.id}/participants"
    removed = await client.delete(f"{url}/{candidate['id']}", headers=bearer(created.token))
    assert removed.status_code == 200
    listed = await client.get(url, headers=bearer(created.token))
    assert [p["id"] for p in listed.json()["data"]] == [created.creator_id]
    after = await client.get(f"/api/v1/sessions/{created.id}", headers=bearer(str(candidate["token"])))
    assert_error(after, 401, "token_revoked")
    again = await client.delete(f"{url}/{candidate['id']}", headers=bearer(created.token))
    assert_error(again, 404, "participant_not_found")


async def test_a_participant_may_leave(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    token = str(candidate["token"])
    url = f"/api/v1/sessions/{created.id}/participants/{candidate['id']}"
    assert (await client.delete(url, headers=bearer(token))).status_code == 200
    assert_error(await client.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(token)), 401)


async def test_unknown_participant(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    url = f"/api/v1/sessions/{created.id}/participants/{uuid.uuid4()}"
    assert_error(await client.delete(url, headers=bearer(created.token)), 404, "participant_not_found")
