"""Three real server processes sharing sessions through a real Redis and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from pycrdt import Doc
from trio_websocket import ConnectionClosed

from tests.clients import closed_with, json_client, yjs_client
from tests.cluster.conftest import RedisServer
from tests.http.api import bearer, create_session, join
from tests.process import ServerProcess, server_process
from tests.stored import wait_until_stored

CLUSTER = {"flush_interval_seconds": "0.2", "cluster_resync_seconds": "0.5"}


@contextlib.asynccontextmanager
async def nodes(count: int, postgres_url: str, redis: RedisServer) -> AsyncIterator[list[ServerProcess]]:
    async with contextlib.AsyncExitStack() as stack:
        started = [
            await stack.enter_async_context(server_process(postgres_url, redis_url=redis.url, **CLUSTER))
            for _ in range(count)
        ]
        yield started


async def test_clients_on_different_nodes_converge(postgres_url: str, redis_server: RedisServer) -> None:
    async with nodes(3, postgres_url, redis_server) as (one, two, three):
        async with httpx.AsyncClient(base_url=one.base_url) as http:
            created = await create_session(http, code="")
            candidate = await join(http, created.id, created.candidate_invite)
        async with (
            yjs_client(one.ws_url, created.id, created.token) as ada,
            yjs_client(two.ws_url, created.id, str(candidate["token"])) as grace,
            json_client(three.ws_url, created.id, created.token) as watcher,
        ):
            for n in range(10):
                ada.text.insert(len(ada.code), f"a{n} ")
                grace.text.insert(0, f"g{n} ")
            await ada.flush()
            await grace.flush()
            expected = sum(len(f"a{n} ") + len(f"g{n} ") for n in range(10))
            await ada.wait_until(lambda: len(ada.code) == expected)
            await grace.wait_until(lambda: grace.code == ada.code)
            await watcher.wait_until(lambda: watcher.code == ada.code)
            await watcher.send("code_update", {"code": ada.code + "// from node three\n"})
            await ada.wait_until(lambda: ada.code.endswith("// from node three\n"))
            async with httpx.AsyncClient(base_url=three.base_url) as http:
                people = await http.get(
                    f"/api/v1/sessions/{created.id}/participants", headers=bearer(created.token)
                )
            online = {p["id"]: p["is_online"] for p in people.json()["data"]}
            assert online == {created.creator_id: True, candidate["id"]: True}
            final = ada.code
        await wait_until_stored(postgres_url, created.id, final)


async def test_a_killed_nodes_clients_reconnect_elsewhere_and_lose_nothing(
    postgres_url: str, redis_server: RedisServer
) -> None:
    doc = Doc()
    async with nodes(2, postgres_url, redis_server) as (doomed, survivor):
        async with httpx.AsyncClient(base_url=doomed.base_url) as http:
            created = await create_session(http, code="start\n")
        async with yjs_client(survivor.ws_url, created.id, created.token) as steady:
            async with yjs_client(doomed.ws_url, created.id, created.token, doc=doc) as moving:
                for n in range(20):
                    await moving.insert(len(moving.code), f"m{n};")
                    await steady.insert(0, f"s{n};")
                # Kill mid-typing: some of these may never have left the doomed node.
                moving.text.insert(len(moving.code), "tail;")
                with contextlib.suppress(ConnectionClosed):
                    await moving.flush()
                doomed.kill()
                await doomed.process.wait()
            async with yjs_client(survivor.ws_url, created.id, created.token, doc=doc) as moved:
                await steady.wait_until(lambda: "tail;" in steady.code)
                await moved.wait_until(lambda: moved.code == steady.code)
            text = steady.code
        for n in range(20):
            assert text.count(f"m{n};") == 1 and text.count(f"s{n};") == 1
        assert text.count("tail;") == 1 and text.count("start\n") == 1
        await wait_until_stored(postgres_url, created.id, text)


async def test_redis_restart_heals(postgres_url: str, redis_server: RedisServer) -> None:
    async with nodes(2, postgres_url, redis_server) as (one, two):
        async with httpx.AsyncClient(base_url=one.base_url) as http:
            created = await create_session(http, code="")
        async with (
            yjs_client(one.ws_url, created.id, created.token) as ada,
            yjs_client(two.ws_url, created.id, created.token) as grace,
        ):
            await ada.insert(0, "before;")
            await grace.wait_until(lambda: grace.code == "before;")
            await redis_server.stop()
            await ada.insert(len(ada.code), "during-a;")
            await grace.insert(0, "during-g;")
            await redis_server.start()
            await grace.wait_until(lambda: "during-a;" in grace.code)
            await ada.wait_until(lambda: "during-g;" in ada.code)
            assert ada.code == grace.code == "during-g;before;during-a;"


async def test_ending_and_removal_reach_every_node(postgres_url: str, redis_server: RedisServer) -> None:
    async with nodes(2, postgres_url, redis_server) as (one, two):
        async with httpx.AsyncClient(base_url=one.base_url) as http:
            created = await create_session(http)
            candidate = await join(http, created.id, created.candidate_invite)
            async with (
                json_client(two.ws_url, created.id, str(candidate["token"])) as removed,
                json_client(two.ws_url, created.id, created.token) as interviewer,
            ):
                await http.delete(
                    f"/api/v1/sessions/{created.id}/participants/{candidate['id']}",
                    headers=bearer(created.token),
                )
                assert (await closed_with(removed.socket))[0] == 4403
                await http.delete(f"/api/v1/sessions/{created.id}", headers=bearer(created.token))
                assert (await closed_with(interviewer.socket))[0] == 4410
