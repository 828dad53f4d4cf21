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
from tests.faults.support import NO_RATE_LIMITS, NO_RATE_LIMITS_ENV, metric, poll
from tests.http.api import create_session
from tests.http.conftest import Server, StartServer
from tests.process import server_process

pytestmark = pytest.mark.postgres

FLUSH_INTERVAL = 0.2
FLUSH_RETRY_MAX = 1.0
# After the database is back, a flush has to wait at most one retry back-off; the rest is
# reconnecting. Generous for a loaded CI machine, still far below "never".
RECOVERY_BOUND_SECONDS = 10.0
# A half-open connection only fails when something times out: the store's statement timeout
# (15 s) bounds a stuck flush, and the retry after it runs on a fresh connection.
HALF_OPEN_RECOVERY_BOUND_SECONDS = 20.0
# Orchestrators give a health probe a few seconds at most.
HEALTH_BOUND_SECONDS = 5.0
BUFFER = 65536


@dataclass(eq=False)
class Link:
    client: trio.SocketStream
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    blackholed: bool = False
    swallowed: int = 0  # bytes from the server under test that went nowhere


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
                    await self._swallow(client, link)
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
    async def _swallow(stream: trio.SocketStream, link: Link) -> None:
        while data := await stream.receive_some(BUFFER):
            link.swallowed += len(data)
        await trio.sleep_forever()

    @staticmethod
    async def _pump(
        source: trio.SocketStream, sink: trio.SocketStream, link: Link, scope: trio.CancelScope
    ) -> None:
        try:
            while data := await source.receive_some(BUFFER):
                if not link.blackholed:
                    await sink.send_all(data)
                elif source is link.client:
                    link.swallowed += len(data)
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


async def health(http: httpx.AsyncClient) -> tuple[dict[str, object], float]:
    """The health answer and how long it took; it must come within `HEALTH_BOUND_SECONDS`
    whatever the database does (the endpoint's own ping timeout is 2 s)."""
    started = trio.current_time()
    with trio.move_on_after(HEALTH_BOUND_SECONDS + 10):
        response = await http.get("/api/v1/health", timeout=HEALTH_BOUND_SECONDS + 10)
        took = trio.current_time() - started
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body, took
    raise AssertionError(f"/api/v1/health did not answer within {HEALTH_BOUND_SECONDS + 10} s")


async def test_sessions_survive_a_database_outage_and_catch_up(
    start_server: StartServer, proxy: Proxy, postgres_url: str
) -> None:
    server = await start(start_server)
    async with server.client() as http:
        created = await create_session(http, code="")
        async with (
            yjs_client(server.ws_url, created.id, created.token) as alice,
            yjs_client(server.ws_url, created.id, created.token) as bob,
        ):
            await exchange(alice, bob, "# before the outage\n")
            await poll(lambda: _stored_is(postgres_url, created.id, alice.code), what="the first flush")
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
            status, took = await health(http)
            assert took <= HEALTH_BOUND_SECONDS, f"health took {took:.1f} s while the database was cut"
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
            assert (await health(http))[0]["database"] == "ok"
            assert await metric(http, "codeinterview_flush_batches") > batches_before
    print(
        f"\n[database outage] typed during the outage: {len(typed_during)} fragments, "
        f"{len(typed)} chars in all; stored after recovery: {len(await _stored(postgres_url, created.id))} "
        f"chars (identical); flush failures during the outage: {failures_during:.0f}; "
        f"proxy refused {proxy.refused} connections; recovery took {recovery:.2f} s "
        f"(flush interval {FLUSH_INTERVAL} s, retry cap {FLUSH_RETRY_MAX} s)"
    )


# The half-open tests run the server as a child process: if it hangs on a silent connection
# (the bug they look for), the test still ends, by killing it.
PROCESS_SETTINGS = {
    "flush_interval_seconds": str(FLUSH_INTERVAL),
    "flush_retry_max_seconds": str(FLUSH_RETRY_MAX),
    "shutdown_grace_seconds": "3",
    **NO_RATE_LIMITS_ENV,
}
SHUTDOWN_BOUND_SECONDS = 15.0


async def test_a_flush_stuck_on_a_half_open_connection_fails_and_is_retried(
    proxy: Proxy, database_url: str, postgres_url: str
) -> None:
    """A connection whose peer went silent (no FIN, no RST) must time out: the flush fails and
    is retried on a fresh connection once the network is back; SIGTERM still stops the server."""
    async with server_process(database_url, **PROCESS_SETTINGS) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            created = await create_session(http, code="")
            async with (
                yjs_client(server.ws_url, created.id, created.token) as alice,
                yjs_client(server.ws_url, created.id, created.token) as bob,
            ):
                await exchange(alice, bob, "# before\n")
                await poll(lambda: _stored_is(postgres_url, created.id, alice.code), what="the first flush")

                proxy.blackhole()
                silenced = trio.current_time()
                for n in range(10):  # sessions keep serving meanwhile
                    await exchange(alice, bob, f"alice {n}\n")
                    await exchange(bob, alice, f"bob {n}\n")
                typed = alice.code
                # The flush of those edits must be stuck on a silent connection before the network heals.
                await poll(lambda: _has_blackholed_traffic(proxy), 5, "a flush sent into a silent connection")

                proxy.restore()
                restored = trio.current_time()
                try:
                    recovery = await poll(
                        lambda: _stored_is(postgres_url, created.id, typed),
                        HALF_OPEN_RECOVERY_BOUND_SECONDS,
                        "edits reaching PostgreSQL after a flush hung on a half-open connection",
                    )
                finally:
                    print(
                        f"\n[half-open flush] typed {len(typed)} chars; stored "
                        f"{len(await _stored(postgres_url, created.id))} chars "
                        f"{trio.current_time() - restored:.1f} s after the network healed "
                        f"({trio.current_time() - silenced:.1f} s after it went silent); flush failures "
                        f"{await metric(http, 'codeinterview_flush_failures'):.0f}"
                    )
                assert (await health(http))[0]["database"] == "ok"
        print(f"[half-open flush] recovery took {recovery:.2f} s after the network healed")
        server.terminate()
        with trio.move_on_after(SHUTDOWN_BOUND_SECONDS):
            assert await server.process.wait() == 0
        assert server.process.returncode is not None, (
            f"SIGTERM did not stop the server in {SHUTDOWN_BOUND_SECONDS} s"
        )


async def test_health_answers_in_time_when_database_connections_go_silent(
    proxy: Proxy, database_url: str
) -> None:
    """The pooled connection the health check's ping takes has gone silent: the check must
    still answer (200, unavailable) within a probe's patience, and again after that."""
    async with server_process(database_url, **PROCESS_SETTINGS) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            assert (await health(http))[0]["database"] == "ok"  # leaves an idle pooled connection
            proxy.blackhole()
            answers = [await health(http) for _ in range(2)]
            print(
                "\n[half-open health] /api/v1/health answered "
                + ", then ".join(f"{status['database']!r} after {took:.1f} s" for status, took in answers)
            )
            for status, took in answers:
                assert status["database"] == "unavailable", status
                assert status["status"] == "degraded", status
                assert took <= HEALTH_BOUND_SECONDS, (
                    f"/api/v1/health took {took:.1f} s with a half-open database connection "
                    f"(its own ping timeout is 2 s)"
                )
            proxy.restore()
            # And once the network is back, it says so again (the silent connection is not reused).
            assert (await health(http))[0]["database"] == "ok"


async def _has_blackholed_traffic(proxy: Proxy) -> bool:
    return any(link.swallowed for link in proxy.links)


async def _stored(postgres_url: str, session_id: str) -> str:
    return await stored_code(postgres_url, session_id)


async def _stored_is(postgres_url: str, session_id: str, expected: str) -> bool:
    return await stored_code(postgres_url, session_id) == expected
