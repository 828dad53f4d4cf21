"""Bad input gets the envelope with the right status and names the field; nothing is written."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.http.api import assert_error, bearer, create_session
from tests.http.conftest import StartServer


def creator(**changes: object) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "name": "Ada", "color": "red", **changes}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"creator": creator(id="not-a-uuid")}, "creator.id"),
        ({"creator": creator(name="")}, "creator.name"),
        ({"creator": creator(name="   ")}, "creator.name"),
        ({"creator": creator(name="x" * 256)}, "creator.name"),
        ({"creator": creator(color="c" * 51)}, "creator.color"),
        ({"creator": creator(name=12)}, "creator.name"),
        ({"creator": creator(name="nul\x00byte")}, "creator.name"),
        ({"creator": creator(), "language": "cobol"}, "language"),
        ({"creator": creator(), "code": 5}, "code"),
        ({"creator": creator(), "extra": True}, "extra"),
        ({"creator": {**creator(), "role": "candidate"}}, "creator.role"),
        ({}, "creator"),
    ],
)
async def test_create_rejects_bad_fields(
    client: httpx.AsyncClient, payload: dict[str, object], field: str
) -> None:
    body = assert_error(await client.post("/api/v1/sessions", json=payload), 422, "validation_error")
    assert field in [d["field"] for d in body["details"]]  # type: ignore[union-attr]


async def test_name_of_255_chars_is_fine(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/sessions", json={"creator": creator(name="n" * 255, color="c" * 50)})
    assert response.status_code == 201


async def test_lone_surrogates_are_rejected(client: httpx.AsyncClient) -> None:
    raw = '{"creator": {"id": "%s", "name": "\\ud800", "color": "red"}}' % uuid.uuid4()
    response = await client.post(
        "/api/v1/sessions", content=raw, headers={"Content-Type": "application/json"}
    )
    body = assert_error(response, 422, "validation_error")
    assert body["details"][0]["field"] == "creator.name"  # type: ignore[index]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/sessions", content=b'{"creator": ', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400)


async def test_non_json_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/sessions", content=b"name=x")
    assert_error(response, 422, "validation_error")


async def test_body_over_the_limit_is_413(start_server: StartServer) -> None:
    server = await start_server(max_body_bytes=4096)
    async with server.client() as client:
        payload = {"creator": creator(), "code": "x" * 5000}
        assert_error(await client.post("/api/v1/sessions", json=payload), 413)


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/nothing-here"), 404)
    assert_error(await client.put("/api/v1/sessions"), 405)


async def test_failed_update_writes_nothing(client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="original")
    url = f"/api/v1/sessions/{created.id}/code"
    bad = await client.put(url, json={"code": "new", "language": "cobol"}, headers=bearer(created.token))
    assert_error(bad, 422)
    assert (await client.get(url, headers=bearer(created.token))).json()["data"]["code"] == "original"


async def test_wrong_types_on_patch_participant(client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    url = f"/api/v1/sessions/{created.id}/participants/{created.creator_id}"
    body = assert_error(await client.patch(url, json={"color": ["x"]}, headers=bearer(created.token)), 422)
    assert body["details"][0]["field"] == "color"  # type: ignore[index]
