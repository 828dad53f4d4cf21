"""The Redis bus between two nodes on a real Redis: order, own messages, backpressure, reconnection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import redis
import trio

from codeinterview.cluster import redis as redis_bus
from codeinterview.cluster.bus import EVERYONE, BusFrame, Kind, encode_frame, encode_message
from codeinterview.cluster.redis import RedisBus, open_redis_bus
from tests.cluster.conftest import RedisServer

PROBE = "probe000"


class Node:
    def __init__(self, bus: RedisBus) -> None:
        self.bus = bus
        self.frames: list[BusFrame] = []
        self.heard_probe = False
        self.connections = 0
        self._changed = trio.Event()

    def deliver(self, frame: BusFrame) -> None:
        if frame.session_id == PROBE:
            self.heard_probe = True
        else:
            self.frames.append(frame)
        self._changed.set()

    def connected(self) -> None:
        self.connections += 1
        self._changed.set()

    def frame(self, n: int) -> BusFrame:
        return BusFrame(Kind.YJS, self.bus.node_id, EVERYONE, f"{n % 7:08d}", b"update %d" % n)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        with trio.fail_after(10):
            while not condition():
                self._changed = trio.Event()
                await self._changed.wait()


async def until_heard(speaker: Node, listener: Node) -> None:
    """A subscription is ready some time after `connected`: probe until one gets through."""
    listener.heard_probe = False
    with trio.fail_after(10):
        while not listener.heard_probe:
            speaker.bus.publish_nowait(BusFrame(Kind.YJS, speaker.bus.node_id, EVERYONE, PROBE, b""))
            with trio.move_on_after(0.05):
                await listener.wait_until(lambda: listener.heard_probe)


@asynccontextmanager
async def two_nodes(url: str) -> AsyncIterator[tuple[Node, Node]]:
    async with (
        open_redis_bus(url, b"a" * 16) as bus_a,
        open_redis_bus(url, b"b" * 16) as bus_b,
        trio.open_nursery() as nursery,
    ):
        a, b = Node(bus_a), Node(bus_b)
        nursery.start_soon(bus_a.run, a.deliver, a.connected)
        nursery.start_soon(bus_b.run, b.deliver, b.connected)
        await until_heard(a, b)
        await until_heard(b, a)
        yield a, b
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("batch_bytes", [redis_bus.PUBLISH_BATCH_BYTES, 200])
async def test_frames_arrive_once_in_order_and_never_back_at_their_origin(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, batch_bytes: int
) -> None:
    monkeypatch.setattr(redis_bus, "PUBLISH_BATCH_BYTES", batch_bytes)
    async with two_nodes(redis_server.url) as (a, b):
        sent_by_a = [a.frame(n) for n in range(2000)]
        for n, frame in enumerate(sent_by_a):
            a.bus.publish_nowait(frame)
            if n % 10 == 0:
                await trio.lowlevel.checkpoint()  # so they go out as many messages
        await b.wait_until(lambda: len(b.frames) >= len(sent_by_a))
        # Redis sends every subscriber the messages in one order, so once `a` has these it has
        # also been sent (and must have dropped) all of its own.
        sent_by_b = [b.frame(n) for n in range(50)]
        for frame in sent_by_b:
            b.bus.publish_nowait(frame)
        await a.wait_until(lambda: len(a.frames) >= len(sent_by_b))
        assert b.frames == sent_by_a
        assert a.frames == sent_by_b
        assert a.bus.dropped == b.bus.dropped == 0


async def test_a_burst_waits_for_the_deliverer(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_bus, "RECEIVE_BUFFER", 0)  # no message read ahead of delivery
    third = b"c" * 16
    burst = [BusFrame(Kind.YJS, third, EVERYONE, f"{n:08d}", b"update") for n in range(500)]

    def publish_back_to_back() -> None:
        with redis.Redis.from_url(redis_server.url) as client, client.pipeline(transaction=False) as pipeline:
            for frame in burst:
                pipeline.publish(redis_bus.CHANNEL, encode_message(third, [encode_frame(frame)]))
            pipeline.execute()

    async with two_nodes(redis_server.url) as (a, b):
        await trio.to_thread.run_sync(publish_back_to_back)
        await a.wait_until(lambda: len(a.frames) >= len(burst))
        await b.wait_until(lambda: len(b.frames) >= len(burst))
        assert a.frames == b.frames == burst


async def test_every_resubscription_after_redis_returns_is_reported(redis_server: RedisServer) -> None:
    async with two_nodes(redis_server.url) as (a, b):
        assert a.connections == b.connections == 1
        await redis_server.stop()
        await redis_server.start()
        await a.wait_until(lambda: a.connections == 2)
        await b.wait_until(lambda: b.connections == 2)
        await until_heard(a, b)
        await until_heard(b, a)
