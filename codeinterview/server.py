"""Serving the app with Hypercorn's trio worker, with a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from codeinterview import gctune
from codeinterview.clock import Clock
from codeinterview.config import Settings
from codeinterview.http.app import create_app
from codeinterview.runtime import Runtime

log = logging.getLogger(__name__)


def hypercorn_config(settings: Settings, host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.websocket_max_message_size = settings.ws_max_message_bytes
    config.graceful_timeout = settings.shutdown_grace_seconds
    config.accesslog = None  # access lines would carry WebSocket URLs, tokens included
    config.errorlog = logging.getLogger("hypercorn.error")  # through our formatter, not its own
    return config


async def serve_app(
    app: QuartTrio,
    config: Config,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` through its ASGI callable: `QuartTrio.__call__` only awaits that, and its
    frame would stay on every open connection's stack. Hypercorn cannot tell the callable's
    kind by looking (`SessionSockets` returns its coroutine), so it is told."""
    await serve(app.asgi_app, config, shutdown_trigger=shutdown_trigger, task_status=task_status, mode="asgi")


async def wait_for_stop_signal() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s, shutting down", signal.Signals(signum).name)
            return


def drain_then_stop(app: QuartTrio, trigger: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A Hypercorn shutdown trigger that first flushes live sessions and closes their sockets
    with 1001, so Hypercorn's graceful wait is not spent on WebSockets that would never end."""

    async def shutdown() -> None:
        await trigger()
        runtime: Runtime | None = app.extensions.get("codeinterview")
        if runtime is not None:
            with trio.move_on_after(runtime.settings.shutdown_grace_seconds):
                await runtime.drain()

    return shutdown


async def run_server(settings: Settings, host: str, port: int, *, clock: Clock | None = None) -> None:
    app = create_app(settings, clock=clock)
    config = hypercorn_config(settings, host, port)
    gctune.tune_for_serving()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gctune.collect_forever)
        await serve_app(app, config, shutdown_trigger=drain_then_stop(app, wait_for_stop_signal))
        nursery.cancel_scope.cancel()
