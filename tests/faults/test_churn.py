"""Connections and sessions come and go by the hundred: nothing stays behind (connections,
session actors, memory), and no edit made along the way is lost."""

from __future__ import annotations

import json

import httpx
import trio
from trio_websocket import open_websocket_url

from tests.clients import json_client, socket_url, yjs_client
from tests.faults.support import (
    NO_RATE_LIMITS,
    NO_RATE_LIMITS_ENV,
    RawSocket,
    empty_sync_step1,
    metric,
    rss_kib,
    wait_for_metric,
)
from tests.http.api import Created, bearer, create_session
from tests.http.conftest import StartServer
from tests.process import server_process

IDLE_TIMEOUT = 0.05
CYCLES = 200
WORKERS = 4
SESSIONS = 100
MEMORY_ROUNDS = 5
# Generous against the ~1 MiB a healthy server shows over these rounds, yet tight enough that
# a leak of ~20 KiB per connection (2 MiB a round) fails.
MEMORY_GROWTH_BOUND_KIB = 10 * 1024


async def visit(ws_url: str, created: Created, kind: int) -> bool:
    """One connect/disconnect cycle of one of five kinds; True if it typed a character."""
    kind %= 5
    if kind == 0:  # y-websocket, clean close, types one character
        async with yjs_client(ws_url, created.id, created.token) as client:
            await client.insert(0, "y")
        return True
    if kind == 1:  # JSON via ?protocol=json, clean close
        async with json_client(ws_url, created.id, created.token) as client:
            await client.send("ping")
            await client.next_of("pong")
        return False
    if kind == 2:  # JSON picked by an auth message as the first frame
        async with open_websocket_url(socket_url(ws_url, created.id, None)) as socket:
            await socket.send_message(json.dumps({"type": "auth", "token": created.token}))
            with trio.fail_after(10):
                while json.loads(await socket.get_message())["type"] != "session_state":
                    pass
        return False
    # The peer vanishes: TCP dropped without a close frame, once synced / once greeted.
    raw = await RawSocket.open(
        socket_url(ws_url, created.id, created.token, protocol="yjs" if kind == 3 else "json")
    )
    with trio.fail_after(10):
        if kind == 3:
            await raw.send(empty_sync_step1())
        await raw.next_message()  # the server's greeting (sync step 1, or session_state)
    await raw.vanish()
    return False


async def churn_one_session(ws_url: str, created: Created, cycles: int, workers: int) -> int:
    """`cycles` visits spread over `workers` concurrent visitors; returns characters typed."""
    typed = 0

    async def worker(first: int) -> None:
        nonlocal typed
        for n in range(first, cycles, workers):
            edited = await visit(ws_url, created, n)
            typed += edited  # not `typed += await ...`: that reads `typed` before awaiting

    async with trio.open_nursery() as nursery:
        for first in range(workers):
            nursery.start_soon(worker, first)
    return typed


async def churn_sessions(
    http: httpx.AsyncClient, ws_url: str, count: int, workers: int = 10
) -> dict[str, tuple[Created, str]]:
    """`count` new sessions, each started by one connection that then leaves; returns each
    session's expected code by id."""
    made: dict[str, tuple[Created, str]] = {}

    async def worker(first: int) -> None:
        for n in range(first, count, workers):
            created = await create_session(http, code=f"session {n}\n")
            typed = await visit(ws_url, created, n % 2)  # y-websocket (types) or JSON
            made[created.id] = (created, ("y" if typed else "") + f"session {n}\n")

    async with trio.open_nursery() as nursery:
        for first in range(workers):
            nursery.start_soon(worker, first)
    return made


async def assert_nothing_left(http: httpx.AsyncClient) -> None:
    await wait_for_metric(http, "codeinterview_connections", 0)
    await wait_for_metric(http, "codeinterview_live_sessions", 0)
    assert await metric(http, "codeinterview_actor_crashes") == 0


async def test_connection_churn_on_one_session_leaves_nothing_behind(start_server: StartServer) -> None:
    server = await start_server(idle_timeout_seconds=IDLE_TIMEOUT, **NO_RATE_LIMITS)
    async with server.client() as http:
        created = await create_session(http, code="")
        started = trio.current_time()
        typed = await churn_one_session(server.ws_url, created, CYCLES, WORKERS)
        elapsed = trio.current_time() - started
        await assert_nothing_left(http)
        # Every character typed on the way survived the actor stopping and starting again.
        code = await http.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(created.token))
        assert code.json()["data"]["code"] == "y" * typed
    print(
        f"\n[churn] {CYCLES} connect/disconnect cycles ({WORKERS} at a time) in {elapsed:.1f} s; "
        f"{typed} edits kept"
    )


async def test_session_churn_leaves_no_live_session(start_server: StartServer) -> None:
    server = await start_server(idle_timeout_seconds=IDLE_TIMEOUT, **NO_RATE_LIMITS)
    async with server.client() as http:
        started = trio.current_time()
        made = await churn_sessions(http, server.ws_url, SESSIONS)
        elapsed = trio.current_time() - started
        await assert_nothing_left(http)
        assert len(made) == SESSIONS
        for created, expected in made.values():
            code = await http.get(f"/api/v1/sessions/{created.id}/code", headers=bearer(created.token))
            assert code.json()["data"]["code"] == expected
    print(f"\n[churn] {SESSIONS} sessions started by one connection each and left, in {elapsed:.1f} s")


async def test_churn_does_not_grow_memory(database_url: str) -> None:
    settings = {"idle_timeout_seconds": str(IDLE_TIMEOUT), **NO_RATE_LIMITS_ENV}
    async with server_process(database_url, **settings) as server:
        pid = server.process.pid
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            created = await create_session(http, code="")

            async def one_round() -> None:
                await churn_one_session(server.ws_url, created, CYCLES // 2, WORKERS)
                await churn_sessions(http, server.ws_url, 20)
                await assert_nothing_left(http)

            await one_round()  # warm-up: imports, caches, pools, allocator arenas
            baseline = rss_kib(pid)
            samples = []
            for _ in range(MEMORY_ROUNDS):
                await one_round()
                samples.append(rss_kib(pid))
    growth = samples[-1] - baseline
    print(
        f"\n[churn memory] RSS after warm-up {baseline / 1024:.1f} MiB; after each of "
        f"{MEMORY_ROUNDS} more rounds ({CYCLES // 2} connections + 20 sessions each): "
        + ", ".join(f"{kib / 1024:.1f}" for kib in samples)
        + f" MiB; growth {growth / 1024:+.1f} MiB (bound {MEMORY_GROWTH_BOUND_KIB / 1024:.0f} MiB)"
    )
    assert growth <= MEMORY_GROWTH_BOUND_KIB
