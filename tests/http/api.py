"""Small helpers for driving the REST API in tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Created:
    id: str
    token: str
    creator_id: str
    candidate_invite: str
    interviewer_invite: str
    body: dict[str, object]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_session(client: httpx.AsyncClient, **extra: object) -> Created:
    creator_id = str(uuid.uuid4())
    payload = {"creator": {"id": creator_id, "name": "Ada", "color": "hsl(250, 84%, 54%)"}, **extra}
    response = await client.post("/api/v1/sessions", json=payload)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    return Created(
        data["id"],
        data["token"],
        creator_id,
        data["invites"]["candidate"],
        data["invites"]["interviewer"],
        data,
    )


async def join(
    client: httpx.AsyncClient, session_id: str, invite: str, name: str = "Grace"
) -> dict[str, object]:
    response = await client.post(
        f"/api/v1/sessions/{session_id}/participants",
        json={"invite": invite, "name": name, "color": "#0a7"},
    )
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"]
    if code is not None:
        assert body["code"] == code, body
    return body
