"""Inputs a fuzzer found to hurt: each gets an error (or nothing) and hurts no one else."""

from __future__ import annotations

import httpx

from tests.clients import json_client, yjs_client
from tests.http.api import create_session
from tests.http.conftest import Server


async def test_non_json_numbers_and_deep_nesting_are_refused(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    async with json_client(server.ws_url, created.id, created.token) as fuzzer, json_client(
        server.ws_url, created.id, created.token
    ) as bystander:
        for bad in (
            '{"type":"cursor_update","data":{"position":Infinity}}',
            '{"type":"cursor_update","data":{"position":-Infinity}}',
            '{"type":"cursor_update","data":{"position":1e999}}',
            '{"type":"cursor_update","data":{"position":NaN}}',
            '{"type":"cursor_update","data":{"deep":' + "[" * 5000 + "]" * 5000 + "}}",
            '{"type":"cursor_update","data":{"deep":' + '{"a":' * 3000 + "1" + "}" * 3000 + "}}",
        ):
            await fuzzer.socket.send_message(bad)
            await fuzzer.next_of("error")
        await fuzzer.send("cursor_update", {"position": 3})
        relayed = await bystander.next_of("cursor_update")
        assert relayed["data"]["position"] == 3  # type: ignore[index]


async def test_each_protocol_ignores_the_other_kind_of_frame(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="same")
    async with json_client(server.ws_url, created.id, created.token) as simple, yjs_client(
        server.ws_url, created.id, created.token
    ) as yjs:
        await simple.socket.send_message(b"\x00\x00\x01\x00")  # a sync step 1
        error = await simple.next_of("error")  # and no binary reply (receive_one asserts text)
        assert "binary" in str(error["data"])
        await yjs.socket.send_message('{"type":"ping"}')
        await yjs.insert(0, ">")
        await simple.wait_until(lambda: simple.code == ">same")  # the Yjs client got no text frame


async def test_cursor_nesting_just_short_of_the_recursion_limit(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    async with json_client(server.ws_url, created.id, created.token) as fuzzer, json_client(
        server.ws_url, created.id, created.token
    ) as bystander:
        for depth in (17, 500, 981):
            await fuzzer.socket.send_message('{"type":"cursor_update","data":{"x":' + "[" * depth + "]" * depth + "}}")
            await fuzzer.next_of("error")
        await fuzzer.send("cursor_update", {"position": 1})
        await bystander.next_of("cursor_update")


async def test_body_that_is_not_utf8_is_400(server: Server, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/sessions", content=b'{"creator": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["success"] is False
