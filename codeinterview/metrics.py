"""Prometheus metrics, one registry per app so several servers can share a process (tests)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PREFIX = "codeinterview"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.live_sessions = Gauge(
            f"{PREFIX}_live_sessions", "Session actors running", registry=self.registry
        )
        self.connections = Gauge(
            f"{PREFIX}_connections", "Open WebSocket connections", registry=self.registry
        )
        self.messages_in = Counter(
            f"{PREFIX}_messages_in", "WebSocket messages received", ["kind"], registry=self.registry
        )
        self.messages_out = Counter(
            f"{PREFIX}_messages_out", "Frames queued to connections", ["kind"], registry=self.registry
        )
        # Per-frame counters looked up once: `labels()` takes a lock and builds a key per call.
        self.messages_in_of = {kind: self.messages_in.labels(kind) for kind in ("yjs", "json")}
        self.messages_out_of = {kind: self.messages_out.labels(kind) for kind in ("yjs", "json")}
        self.fanout = Histogram(
            f"{PREFIX}_broadcast_fanout",
            "Recipients per broadcast",
            buckets=(0, 1, 2, 3, 5, 10, 25, 50, 100, 250),
            registry=self.registry,
        )
        self.flushes = Counter(f"{PREFIX}_flush_batches", "Flush batches written", registry=self.registry)
        self.flushed_documents = Counter(
            f"{PREFIX}_flushed_documents", "Session documents written", registry=self.registry
        )
        self.flush_failures = Counter(
            f"{PREFIX}_flush_failures", "Flush batches that failed", registry=self.registry
        )
        self.flush_seconds = Histogram(
            f"{PREFIX}_flush_seconds", "Time to write one flush batch", registry=self.registry
        )
        self.actor_restarts = Counter(
            f"{PREFIX}_actor_crashes",
            "Session actors that crashed (restarted on next use)",
            registry=self.registry,
        )
        self.disconnects = Counter(
            f"{PREFIX}_forced_disconnects",
            "Connections closed by the server",
            ["reason"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            f"{PREFIX}_rate_limited",
            "Requests or messages refused by a rate limit",
            ["scope"],
            registry=self.registry,
        )

    def track_live_sessions(self, count: Callable[[], int]) -> None:
        self.live_sessions.set_function(lambda: float(count()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
