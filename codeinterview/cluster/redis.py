"""Redis from trio: redis-py's asyncio client through trio-asyncio, confined to this module.

One pub/sub channel carries every node's frames; each node keeps what is addressed to it.
Publishing never blocks a session: frames queue (bounded) for one publisher task that sends
them in pipelined batches. If Redis goes away, both loops retry with backoff, frames queued
meanwhile may be dropped, and on reconnect `on_connected` lets every live session resync.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
import trio
import trio_asyncio
from redis.exceptions import RedisError

from codeinterview.cluster.bus import PRESENCE_TTL_SECONDS, BadFrame, BusFrame, decode, encode

log = logging.getLogger(__name__)

CHANNEL = "codeinterview:bus"
PRESENCE_KEY = "codeinterview:presence:{}"
PUBLISH_BATCH = 256
RETRY_MAX_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 5.0


class RedisBus:
    def __init__(self, loop: trio_asyncio.TrioEventLoop, client: aioredis.Redis, node: str) -> None:
        self._loop = loop
        self._client = client
        self.node = node
        self._send, self._receive = trio.open_memory_channel[bytes](10_000)
        self.dropped = 0

    def publish_nowait(self, frame: BusFrame) -> None:
        try:
            self._send.send_nowait(encode(frame))
        except trio.WouldBlock:
            self.dropped += 1  # the periodic resync repairs what this loses

    async def run(self, deliver: Callable[[BusFrame], None], on_connected: Callable[[], None]) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._publish_forever)
            nursery.start_soon(self._subscribe_forever, deliver, on_connected)

    async def _call(self, coroutine: object) -> object:
        with trio.fail_after(REDIS_TIMEOUT_SECONDS):
            return await self._loop.run_aio_coroutine(coroutine)

    async def _publish_forever(self) -> None:
        backoff = 0.1
        async for first in self._receive:
            batch = [first]
            while len(batch) < PUBLISH_BATCH:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            try:
                await self._call(_publish_all(self._client, batch))
                backoff = 0.1
            except (RedisError, OSError, trio.TooSlowError) as error:
                self.dropped += len(batch)
                log.warning("publishing to Redis failed (%s); retrying in %.1fs", error, backoff)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_SECONDS)

    async def _subscribe_forever(
        self, deliver: Callable[[BusFrame], None], on_connected: Callable[[], None]
    ) -> None:
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub()
            try:
                await self._call(pubsub.subscribe(CHANNEL))
                log.info("subscribed to Redis channel %s", CHANNEL)
                backoff = 0.1
                on_connected()
                await self._listen(pubsub, deliver)
            except (RedisError, OSError, trio.TooSlowError) as error:
                log.warning("Redis subscription lost (%s); retrying in %.1fs", error, backoff)
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await self._loop.run_aio_coroutine(pubsub.aclose())  # type: ignore[no-untyped-call]
            await trio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX_SECONDS)

    async def _listen(self, pubsub: aioredis.client.PubSub, deliver: Callable[[BusFrame], None]) -> None:
        while True:
            message = await self._loop.run_aio_coroutine(
                pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            )
            if message is None or message.get("type") != "message":
                continue
            try:
                deliver(decode(message["data"]))
            except BadFrame as error:
                log.warning("ignoring a malformed cluster frame: %s", error)

    # -- presence ---------------------------------------------------------------------------

    async def set_presence(self, session_id: str, participants: frozenset[str]) -> None:
        """Record who is connected to this node; other nodes read it (expires if we die)."""
        record = json.dumps({"at": time.time(), "participants": sorted(participants)})
        try:
            await self._call(_set_presence(self._client, PRESENCE_KEY.format(session_id), self.node, record))
        except (RedisError, OSError, trio.TooSlowError) as error:
            log.warning("writing presence to Redis failed: %s", error)

    async def online(self, session_id: str) -> frozenset[str]:
        """Participants connected to any node (those of nodes silent too long are ignored)."""
        try:
            with trio.fail_after(REDIS_TIMEOUT_SECONDS):
                entries: dict[bytes, bytes] = await self._loop.run_aio_coroutine(
                    self._client.hgetall(PRESENCE_KEY.format(session_id))
                )
        except (RedisError, OSError, trio.TooSlowError) as error:
            log.warning("reading presence from Redis failed: %s", error)
            return frozenset()
        fresh_since = time.time() - PRESENCE_TTL_SECONDS
        online: set[str] = set()
        for raw in entries.values():
            record = json.loads(raw)
            if record["at"] >= fresh_since:
                online.update(record["participants"])
        return frozenset(online)


async def _publish_all(client: aioredis.Redis, frames: list[bytes]) -> None:
    pipeline = client.pipeline(transaction=False)
    for frame in frames:
        pipeline.publish(CHANNEL, frame)
    await pipeline.execute()


async def _set_presence(client: aioredis.Redis, key: str, node: str, record: str) -> None:
    pipeline = client.pipeline(transaction=False)
    pipeline.hset(key, node, record)
    pipeline.expire(key, PRESENCE_TTL_SECONDS * 2)
    await pipeline.execute()


@asynccontextmanager
async def open_redis_bus(url: str, node: str) -> AsyncIterator[RedisBus]:
    """A bus for the lifetime of the block; keep it open in a long-lived task (it owns a loop)."""
    async with trio_asyncio.open_loop() as loop:
        client = aioredis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        try:
            yield RedisBus(loop, client, node)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await loop.run_aio_coroutine(client.aclose())
