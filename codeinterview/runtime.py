"""The long-lived part of a server: storage, live sessions, the service and background chores.

It runs as one task in the app's nursery so the database connection (and, for PostgreSQL,
the trio-asyncio loop) lives exactly as long as the server does. Stopping it flushes every
live session before storage closes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import trio

from codeinterview.actors.actor import ActorSettings
from codeinterview.actors.document import merge_stored
from codeinterview.actors.flusher import Flusher
from codeinterview.actors.registry import Registry
from codeinterview.actors.ticker import FlushTicker
from codeinterview.clock import Clock
from codeinterview.cluster.node import ClusterNode, open_cluster_node
from codeinterview.config import Settings
from codeinterview.documents import LiveDocuments, StoredDocuments
from codeinterview.metrics import Metrics
from codeinterview.ratelimit import RateLimits
from codeinterview.service import Policy, SessionService
from codeinterview.storage import open_store
from codeinterview.storage.base import StorageError, Store

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    service: SessionService
    registry: Registry
    flusher: Flusher
    metrics: Metrics
    limits: RateLimits
    writers: trio.Nursery  # connections' writers (codeinterview/http/ws.py)
    stopping: trio.Event = field(default_factory=trio.Event)
    stopped: trio.Event = field(default_factory=trio.Event)
    drained: bool = False

    async def drain(self) -> None:
        """Flush every live session and close its sockets with 1001 (idempotent)."""
        if not self.drained:
            self.drained = True
            await self.registry.shutdown()

    async def stop(self) -> None:
        """Drain, then wind down storage and background tasks; wait until done."""
        await self.drain()
        self.stopping.set()
        await self.stopped.wait()


def actor_settings(settings: Settings, *, clustered: bool = False) -> ActorSettings:
    return ActorSettings(
        flush_interval=settings.flush_interval_seconds,
        flush_retry_max=settings.flush_retry_max_seconds,
        idle_timeout=settings.idle_timeout_seconds,
        inbox_size=settings.actor_inbox_size,
        max_code_bytes=settings.max_code_bytes,
        resync_interval=settings.cluster_resync_seconds if clustered else math.inf,
    )


async def run_runtime(
    settings: Settings,
    clock: Clock,
    *,
    task_status: trio.TaskStatus[Runtime] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with open_store(settings.database) as store, open_cluster_node(settings.redis_url) as cluster:
        await store.reset_online()
        # The writers' nursery closes last: actors start writers for as long as they run.
        async with (
            trio.open_nursery() as writers,
            trio.open_nursery() as services,
            trio.open_nursery() as actors,
        ):
            runtime = build_runtime(settings, clock, store, actors, writers, cluster)
            try:
                services.start_soon(runtime.flusher.run)
                services.start_soon(runtime.registry.ticker.run)
                if cluster is not None:
                    services.start_soon(cluster.run)
                await sweep_once(runtime.service, settings)
                services.start_soon(sweep_forever, runtime.service, settings)
                task_status.started(runtime)
                await runtime.stopping.wait()
            finally:
                actors.cancel_scope.cancel()
                services.cancel_scope.cancel()
                writers.cancel_scope.cancel()
                runtime.stopped.set()


def build_runtime(
    settings: Settings,
    clock: Clock,
    store: Store,
    actors: trio.Nursery,
    writers: trio.Nursery,
    cluster: ClusterNode | None = None,
) -> Runtime:
    policy = Policy(
        secret=settings.secret(),
        session_ttl_ms=settings.session_ttl_seconds * 1000,
        open_access=settings.open_access,
    )
    metrics = Metrics()
    # Several nodes flush the same sessions: merge into what is stored, never replace it.
    flusher = Flusher(store, metrics, merge=merge_stored if cluster else None)
    timing = actor_settings(settings, clustered=cluster is not None)
    registry = Registry(
        actors,
        store,
        flusher,
        FlushTicker(settings.flush_interval_seconds),
        clock,
        timing,
        metrics,
        publish=cluster.publish if cluster else None,
        on_presence=cluster.presence_changed if cluster else None,
    )
    if cluster is not None:
        cluster.registry = registry
    documents = LiveDocuments(registry, StoredDocuments(store), cluster)
    service = SessionService(store, documents, clock, policy)
    return Runtime(settings, store, service, registry, flusher, metrics, RateLimits(settings), writers)


async def sweep_forever(service: SessionService, settings: Settings) -> None:
    while True:
        await trio.sleep(settings.sweep_interval_seconds)
        await sweep_once(service, settings)


async def sweep_once(service: SessionService, settings: Settings) -> None:
    try:
        deleted = await service.sweep(settings.retention_seconds * 1000)
    except StorageError as error:
        log.warning("sweeping expired sessions failed: %s", error)
    else:
        if deleted:
            log.info("deleted %d sessions past their retention period", deleted)
