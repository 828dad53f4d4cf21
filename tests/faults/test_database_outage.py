"""PostgreSQL goes away under a live server: sessions keep serving, health says so, flushes
fail and retry, and once the database is back everything typed meanwhile reaches it.

The server reaches PostgreSQL through a TCP proxy in this module, which can cut every
connection (and refuse new ones), or silently swallow traffic (a half-open connection).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import trio
from sqlalchemy.engine import make_url

from codeinterview.config import parse_database_url
from codeinterview.storage import open_store
from tests.clients import YjsClient, yjs_client
from tests.faults.support import NO_RATE_LIMITS, metric, poll
from tests.http.api import create_session
from tests.http.conftest import Server, StartServer

pytestmark = pytest.mark.postgres

FLUSH_INTERVAL = 0.2
FLUSH_RETRY_MAX = 1.0
# After the database is back, a flush has to wait at most one retry back-off; the rest is
# reconnecting. Generous for a loaded CI machine, still far below "never".
RECOVERY_BOUND_SECONDS = 10.0
# A half-open connection only fails when something times out; a store with sane statement
# timeouts recovers well within this.
HALF_OPEN_RECOVERY_BOUND_SECONDS = 20.0
BUFFER = 65536


@dataclass(eq=False)
class Link:
    client: trio.SocketStream
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    blackholed: bool = False


class Proxy:
    """A TCP proxy to PostgreSQL with a switch: `cut()`, `blackhole()`, `restore()`."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = 0
        self.mode = "open"  # "open" | "cut" | "blackhole"
        self.links: set[Link] = set()
        self.accepted = 0
        self.refused = 0

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        await trio.serve_listeners(self._handle, listeners, task_status=task_status)

    def cut(self) -> None:
        """Close every proxied connection and refuse (accept, then close at once) new ones."""
        self.mode = "cut"
        for link in list(self.links):
            link.scope.cancel()

    def blackhole(self) -> None:
        """Open connections go silent for good (bytes either way are dropped), as do new ones:
        a network that loses packets without resetting anything."""
        self.mode = "blackhole"
        for link in self.links:
            link.blackholed = True

    def restore(self) -> None:
        """New connections reach PostgreSQL again; blackholed ones stay dead (their peer is gone)."""
        self.mode = "open"

    async def _handle(self, client: trio.SocketStream) -> None:
        if self.mode == "cut":
            self.refused += 1
            await client.aclose()
            return
        link = Link(client, blackholed=self.mode == "blackhole")
        self.links.add(link)
        self.accepted += 1
        try:
            with link.scope:
                if link.blackholed:
                    await self._swallow(client)
                    return
                upstream = await trio.open_tcp_stream(*self.upstream)
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._pump, client, upstream, link, nursery.cancel_scope)
                        nursery.start_soon(self._pump, upstream, client, link, nursery.cancel_scope)
                finally:
                    await trio.aclose_forcefully(upstream)
        finally:
            self.links.discard(link)
            await trio.aclose_forcefully(client)

    @staticmethod
    async def _swallow(stream: trio.SocketStream) -> None:
        while await stream.receive_some(BUFFER):
            pass

    @staticmethod
    async def _pump(
        source: trio.SocketStream, sink: trio.SocketStream, link: Link, scope: trio.CancelScope
    ) -> None:
        try:
            while data := await source.receive_some(BUFFER):
                if not link.blackholed:
                    await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        # A blackholed link stays open even when one side ends: nobody is told anything.
        if not link.blackholed:
            scope.cancel()
        else:
            await trio.sleep_forever()


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[Proxy]:
    real = make_url(postgres_url)
    proxy = Proxy(real.host or "127.0.0.1", real.port or 5432)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        yield proxy
        nursery.cancel_scope.cancel()


@pytest.fixture
async def database_url(proxy: Proxy, postgres_url: str) -> str:
    """Overrides the two-backend `database_url`: the server under test goes through the proxy."""
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


async def stored_code(postgres_url: str, session_id: str) -> str:
    """Read straight from PostgreSQL (not through the proxy)."""
    async with open_store(parse_database_url(postgres_url)) as store:
        state = await store.load_document(session_id)
    assert state is not None
    return state.code


async def exchange(writer: YjsClient, reader: YjsClient, text: str) -> None:
    """Type at the end of the writer's text; the reader must see it."""
    await writer.insert(len(writer.text), text)  # pycrdt Text length is in UTF-8 bytes
    await reader.wait_until(lambda: reader.code == writer.code)


async def start(start_server: StartServer) -> Server:
    return await start_server(
        flush_interval_seconds=FLUSH_INTERVAL,
        flush_retry_max_seconds=FLUSH_RETRY_MAX,
        shutdown_grace_seconds=3,
        **NO_RATE_LIMITS,
    )


async def health(http: httpx.AsyncClient) -> dict[str, object]:
    with trio.fail_after(5):
        response = await http.get("/api/v1/health")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_sessions_survive_a_database_outage_and_catch_up(
    start_server: StartServer, proxy: Proxy, postgres_url: str
) -> None:
    server = await start(start_server)
    async with server.client() as http:
        created = await create_session(http, code="")
        async with yjs_client(server.ws_url, created.id, created.token) as alice, yjs_client(
            server.ws_url, created.id, created.token
        ) as bob:
            await exchange(alice, bob, "# before the outage\n")
            await poll(
                lambda: _stored_is(postgres_url, created.id, alice.code), what="the first flush"
            )
            failures_before = await metric(http, "codeinterview_flush_failures")
            batches_before = await metric(http, "codeinterview_flush_batches")

            proxy.cut()
            typed_during: list[str] = []
            rounds = 0

            async def outage_noticed() -> bool:
                # Both keep typing (and seeing each other) while the database is gone.
                nonlocal rounds
                for writer, reader, who in ((alice, bob, "alice"), (bob, alice, "bob")):
                    fragment = f"{who} {rounds} é😀\n"
                    await exchange(writer, reader, fragment)
                    typed_during.append(fragment)
                rounds += 1
                failures = await metric(http, "codeinterview_flush_failures")
                return rounds >= 10 and failures >= failures_before + 2

            await poll(outage_noticed, 15, "flush failures while the database is cut")
            status = await health(http)
            assert status["database"] == "unavailable", status
            assert status["status"] == "degraded", status
            assert await metric(http, "codeinterview_flush_failures") >= failures_before + 2
            await exchange(alice, bob, "# last words of the outage\n")
            typed_during.append("# last words of the outage\n")
            typed = alice.code
            assert bob.code == typed
            for fragment in typed_during:
                assert fragment in typed
            assert await _stored(postgres_url, created.id) != typed  # not saved while cut
            failures_during = await metric(http, "codeinterview_flush_failures") - failures_before

            proxy.restore()
            recovery = await poll(
                lambda: _stored_is(postgres_url, created.id, typed),
                RECOVERY_BOUND_SECONDS,
                "everything typed during the outage reaching PostgreSQL",
            )
            assert (await health(http))["database"] == "ok"
            assert await metric(http, "codeinterview_flush_batches") > batches_before
    print(
        f"\n[database outage] typed during the outage: {len(typed_during)} fragments, "
        f"{len(typed)} chars in all; stored after recovery: {len(await _stored(postgres_url, created.id))} "
        f"chars (identical); flush failures during the outage: {failures_during:.0f}; "
        f"proxy refused {proxy.refused} connections; recovery took {recovery:.2f} s "
        f"(flush interval {FLUSH_INTERVAL} s, retry cap {FLUSH_RETRY_MAX} s)"
    )


async def test_half_open_database_connections_do_not_stall_flushing_forever(
    start_server: StartServer, proxy: Proxy, postgres_url: str
) -> None:
    """Connections whose peer went silent (no FIN, no RST) must time out, not hang the flusher."""
    server = await start(start_server)
    async with server.client() as http:
        created = await create_session(http, code="")
        async with yjs_client(server.ws_url, created.id, created.token) as alice, yjs_client(
            server.ws_url, created.id, created.token
        ) as bob:
            await exchange(alice, bob, "# before\n")
            await poll(lambda: _stored_is(postgres_url, created.id, alice.code), what="the first flush")

            print("T first flush ok", flush=True)
            proxy.blackhole()
            print("T blackholed", flush=True)
            for n in range(10):
                await exchange(alice, bob, f"alice {n}\n")
                await exchange(bob, alice, f"bob {n}\n")
            print("T typed", flush=True)
            status = await health(http)  # must answer (bounded), not hang with the database
            assert status["database"] == "unavailable", status
            # Let at least one flush run into the silent connections before the network heals.
            await poll(
                lambda: _has_blackholed_traffic(proxy), 5, "a flush attempt on a silent connection"
            )
            typed = alice.code
            print("T before restore", flush=True)
            proxy.restore()
            started = trio.current_time()
            try:
                recovery = await poll(
                    lambda: _stored_is(postgres_url, created.id, typed),
                    HALF_OPEN_RECOVERY_BOUND_SECONDS,
                    "edits reaching PostgreSQL after half-open connections",
                )
            finally:
                waited = trio.current_time() - started
                print(
                    f"\n[half-open database] typed {len(typed)} chars; stored "
                    f"{len(await _stored(postgres_url, created.id))} chars after {waited:.1f} s; "
                    f"flush failures {await metric(http, 'codeinterview_flush_failures'):.0f}, "
                    f"batches {await metric(http, 'codeinterview_flush_batches'):.0f}"
                )
            assert (await health(http))["database"] == "ok"
    print(f"[half-open database] recovery took {recovery:.2f} s")


async def _has_blackholed_traffic(proxy: Proxy) -> bool:
    return any(link.blackholed for link in proxy.links)


async def _stored(postgres_url: str, session_id: str) -> str:
    return await stored_code(postgres_url, session_id)


async def _stored_is(postgres_url: str, session_id: str, expected: str) -> bool:
    return await stored_code(postgres_url, session_id) == expected


@pytest.fixture(autouse=True)
async def _dump_tasks():
    import sys
    async def dump():
        await trio.sleep(15); print("DUMP", flush=True)
        def walk(task, depth):
            frames = [f"{f.f_code.co_filename.split('site-packages/')[-1]}:{l} {f.f_code.co_name}" for f, l in task.iter_await_frames()]
            print("  " * depth + task.name, file=sys.stderr)
            for fr in frames[-6:]:
                print("  " * depth + "   | " + fr, file=sys.stderr)
            for n in task.child_nurseries:
                for c in n.child_tasks:
                    walk(c, depth + 1)
        walk(trio.lowlevel.current_root_task(), 0)
    async with trio.open_nursery() as n:
        n.start_soon(dump)
        yield
        n.cancel_scope.cancel()
