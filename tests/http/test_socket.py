"""The WebSocket endpoint with real clients: Yjs binary and JSON events, side by side."""

from __future__ import annotations

import json

import httpx
import trio
from trio_websocket import open_websocket_url

from tests.clients import closed_with, json_client, socket_url, yjs_client
from tests.http.api import bearer, create_session, join
from tests.http.conftest import Server


async def test_yjs_clients_see_each_other(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="hello")
    candidate = await join(client, created.id, created.candidate_invite)
    async with yjs_client(server.ws_url, created.id, created.token) as ada, yjs_client(
        server.ws_url, created.id, str(candidate["token"])
    ) as grace:
        assert ada.code == "hello" and grace.code == "hello"
        assert ada.meta.get("language") == "javascript"
        await ada.insert(5, " world")
        await grace.wait_until(lambda: grace.code == "hello world")
        await grace.insert(0, ">> ")
        await ada.wait_until(lambda: ada.code == ">> hello world")


async def test_concurrent_yjs_edits_converge(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="")
    async with yjs_client(server.ws_url, created.id, created.token) as one, yjs_client(
        server.ws_url, created.id, created.token
    ) as two:
        for n in range(20):
            one.text.insert(len(one.code), f"a{n};")
            two.text.insert(0, f"b{n};")
        await one.flush()
        await two.flush()
        expected_length = sum(len(f"a{n};") + len(f"b{n};") for n in range(20))
        await one.wait_until(lambda: len(one.code) == expected_length)
        await two.wait_until(lambda: len(two.code) == expected_length)
        assert one.code == two.code
        live = await client.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(created.token))
        assert live.json()["data"]["code"] == one.code


async def test_json_and_yjs_clients_converge(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="line\n")
    async with yjs_client(server.ws_url, created.id, created.token) as yjs, json_client(
        server.ws_url, created.id, created.token
    ) as simple:
        assert simple.code == "line\n"
        await simple.send("code_update", {"code": "line\nfrom json\n"})
        await yjs.wait_until(lambda: yjs.code == "line\nfrom json\n")
        await yjs.insert(0, "# yjs\n")
        await simple.wait_until(lambda: simple.code == "# yjs\nline\nfrom json\n")
        update = simple.events[-1]
        assert update["type"] == "code_update"
        assert isinstance(update["data"], dict) and update["data"]["participant_id"] == created.creator_id
        assert isinstance(update["data"]["timestamp"], int)


async def test_full_text_update_merges_with_a_concurrent_yjs_edit(
    server: Server, client: httpx.AsyncClient
) -> None:
    created = await create_session(client, code="abc\n")
    async with yjs_client(server.ws_url, created.id, created.token) as yjs, json_client(
        server.ws_url, created.id, created.token
    ) as simple:
        # The Yjs insert is in flight while the JSON client replaces the text it saw.
        yjs.text.insert(0, "Y")
        await simple.send("code_update", {"code": "abc\nJ\n"})
        await yjs.flush()
        await yjs.wait_until(lambda: "Y" in yjs.code and "J" in yjs.code)
        assert yjs.code == "Yabc\nJ\n"
        await simple.wait_until(lambda: simple.code == "Yabc\nJ\n")


async def test_session_state_and_presence(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="x = 1", language="python")
    candidate = await join(client, created.id, created.candidate_invite, name="Grace")
    async with json_client(server.ws_url, created.id, created.token) as ada:
        state = ada.events[0]["data"]
        assert isinstance(state, dict)
        assert state["code"] == "x = 1" and state["language"] == "python"
        assert state["you"]["id"] == created.creator_id and state["you"]["role"] == "interviewer"  # type: ignore[index]
        online = {p["id"]: p["is_online"] for p in state["participants"]}  # type: ignore[union-attr]
        assert online == {created.creator_id: True, candidate["id"]: False}
        async with json_client(server.ws_url, created.id, str(candidate["token"])):
            joined = await ada.next_of("participant_joined")
            assert joined["data"]["id"] == candidate["id"]  # type: ignore[index]
            people = await client.get(f"/api/v1/sessions/{created.id}/participants", headers=bearer(created.token))
            assert all(p["is_online"] for p in people.json()["data"])
        left = await ada.next_of("participant_left")
        assert left["data"]["id"] == candidate["id"]  # type: ignore[index]
        people = await client.get(f"/api/v1/sessions/{created.id}/participants", headers=bearer(created.token))
        assert {p["id"]: p["is_online"] for p in people.json()["data"]} == {
            created.creator_id: True,
            candidate["id"]: False,
        }


async def test_language_change_reaches_everyone(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    async with yjs_client(server.ws_url, created.id, created.token) as yjs, json_client(
        server.ws_url, created.id, created.token
    ) as one, json_client(server.ws_url, created.id, created.token) as two:
        await one.send("language_change", {"language": "python"})
        changed = await two.next_of("language_change")
        assert changed["data"]["language"] == "python"  # type: ignore[index]
        await yjs.wait_until(lambda: yjs.meta.get("language") == "python")
        yjs.meta["language"] = "html"
        await yjs.flush()
        await one.wait_until(lambda: one.language == "html")
        code = await client.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(created.token))
        assert code.json()["data"]["language"] == "html"


async def test_yjs_client_cannot_store_an_unknown_language(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client, language="python")
    async with yjs_client(server.ws_url, created.id, created.token) as yjs:
        yjs.meta["language"] = "cobol"
        await yjs.flush()
        await yjs.wait_until(lambda: yjs.meta.get("language") == "python")


async def test_rest_writes_go_through_the_live_session(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="old")
    async with yjs_client(server.ws_url, created.id, created.token) as yjs, json_client(
        server.ws_url, created.id, created.token
    ) as simple:
        url = f"/api/v1/sessions/{created.id}"
        put = await client.put(f"{url}/code", json={"code": "new"}, headers=bearer(created.token))
        assert put.json()["data"]["code"] == "new"
        await yjs.wait_until(lambda: yjs.code == "new")
        await simple.wait_until(lambda: simple.code == "new")
        await client.patch(url, json={"language": "python"}, headers=bearer(created.token))
        await simple.wait_until(lambda: simple.language == "python")
        await yjs.insert(3, "!")
        await simple.wait_until(lambda: simple.code == "new!")
        live = await client.get(f"{url}/code", headers=bearer(created.token))
        assert live.json()["data"] == {**live.json()["data"], "code": "new!", "language": "python"}
        snapshot = await client.post(f"{url}/snapshots", json={"label": "live"}, headers=bearer(created.token))
        assert snapshot.json()["data"]["code"] == "new!"


async def test_malformed_json_gets_an_error_and_the_connection_stays(
    server: Server, client: httpx.AsyncClient
) -> None:
    created = await create_session(client)
    async with json_client(server.ws_url, created.id, created.token) as simple:
        for bad in ("{nope", "[1,2]", json.dumps({"type": "dance"}), json.dumps({"type": "code_update", "data": {"code": 7}})):
            await simple.socket.send_message(bad)
            error = await simple.next_of("error")
            assert isinstance(error["data"], dict) and error["data"]["message"]
        await simple.send("ping")
        await simple.next_of("pong")


async def test_auth_message_instead_of_query_token(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="via auth")
    async with open_websocket_url(socket_url(server.ws_url, created.id, None)) as socket:
        await socket.send_message(json.dumps({"type": "auth", "token": created.token}))
        state = json.loads(await socket.get_message())
        assert state["type"] == "session_state" and state["data"]["code"] == "via auth"


async def test_protocol_follows_the_first_frame(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client, code="first")
    async with open_websocket_url(socket_url(server.ws_url, created.id, created.token)) as socket:
        await socket.send_message(json.dumps({"type": "ping"}))
        state = json.loads(await socket.get_message())
        assert state["type"] == "session_state"


async def test_rejections_use_documented_close_codes(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    other = await create_session(client)
    cases = [
        (socket_url(server.ws_url, created.id, "garbage"), 4401),
        (socket_url(server.ws_url, created.id, other.token), 4403),
        (socket_url(server.ws_url, created.id, created.token, protocol="xml"), 4400),
    ]
    for url, code in cases:
        async with open_websocket_url(url) as socket:
            assert (await closed_with(socket))[0] == code
    async with open_websocket_url(socket_url(server.ws_url, created.id, None)) as socket:
        await socket.send_message(b"\x00\x00\x00")
        assert (await closed_with(socket))[0] == 4401


async def test_auth_timeout(start_server: object, client: httpx.AsyncClient) -> None:
    quick = await start_server(ws_auth_timeout_seconds=0.3)  # type: ignore[operator]
    async with quick.client() as http:
        created = await create_session(http)
    async with open_websocket_url(socket_url(quick.ws_url, created.id, None)) as socket:
        code, reason = await closed_with(socket)
    assert code == 4408 and reason


async def test_removal_and_ending_close_sockets(server: Server, client: httpx.AsyncClient) -> None:
    created = await create_session(client)
    candidate = await join(client, created.id, created.candidate_invite)
    token = str(candidate["token"])
    async with open_websocket_url(socket_url(server.ws_url, created.id, token, protocol="json")) as socket, json_client(
        server.ws_url, created.id, created.token
    ) as interviewer:
        await socket.get_message()  # session_state
        await client.delete(f"/api/v1/sessions/{created.id}/participants/{candidate['id']}", headers=bearer(created.token))
        assert (await closed_with(socket))[0] == 4403
        await interviewer.next_of("participant_left")
        await client.delete(f"/api/v1/sessions/{created.id}", headers=bearer(created.token))
        assert (await closed_with(interviewer.socket))[0] == 4410
    async with open_websocket_url(socket_url(server.ws_url, created.id, created.token)) as socket:
        assert (await closed_with(socket))[0] == 4410
    async with open_websocket_url(socket_url(server.ws_url, created.id, token)) as socket:
        assert (await closed_with(socket))[0] in (4403, 4410)


async def test_graceful_stop_flushes_and_closes_with_1001(start_server: object, client: httpx.AsyncClient) -> None:
    first = await start_server(flush_interval_seconds=3600)  # type: ignore[operator]
    async with first.client() as http:
        created = await create_session(http, code="")
    async with yjs_client(first.ws_url, created.id, created.token) as yjs:
        await yjs.insert(0, "typed before shutdown")
        async with first.client() as http:
            # The REST read goes through the actor, so the insert has been applied.
            await _wait_for_code(http, created.id, created.token, "typed before shutdown")
        first.stop.set()
        code, _ = await closed_with(yjs.socket)
        assert code == 1001
    second = await start_server()  # type: ignore[operator]
    async with second.client() as http:
        stored = await http.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(created.token))
    assert stored.json()["data"]["code"] == "typed before shutdown"


async def _wait_for_code(http: httpx.AsyncClient, session_id: str, token: str, expected: str) -> None:
    with trio.fail_after(10):
        while True:
            response = await http.get(f"/api/v1/sessions/{session_id}/code", headers=bearer(token))
            if response.json()["data"]["code"] == expected:
                return
            await trio.lowlevel.checkpoint()
