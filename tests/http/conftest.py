"""A real server (Hypercorn, trio worker) on a loopback port, over real storage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import httpx
import pytest
import trio
from quart_trio import QuartTrio

from codeinterview.clock import ManualClock
from codeinterview.config import Settings
from codeinterview.http.app import create_app
from codeinterview.server import drain_then_stop, hypercorn_config, serve_app

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256"


@dataclass
class Server:
    base_url: str
    settings: Settings
    stop: trio.Event

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10)


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def start_server(database_url: str, clock: ManualClock) -> AsyncIterator[StartServer]:
    servers: list[Server] = []
    async with trio.open_nursery() as nursery:

        async def start(
            *, configure: Callable[[QuartTrio], None] | None = None, **overrides: object
        ) -> Server:
            settings = Settings(database_url=database_url, secret_key=TEST_SECRET, **overrides)
            app = create_app(settings, clock=clock)
            if configure is not None:
                configure(app)  # e.g. a test-only route
            stop = trio.Event()
            config = hypercorn_config(settings, "127.0.0.1", 0)
            trigger = drain_then_stop(app, stop.wait)
            binds = await nursery.start(partial(serve_app, app, config, shutdown_trigger=trigger))
            server = Server(binds[0], settings, stop)
            servers.append(server)
            return server

        yield start
        for server in servers:
            server.stop.set()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    return await start_server()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as http:
        yield http
