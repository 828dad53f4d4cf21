"""Redis from trio: redis-py's asyncio client through trio-asyncio, confined to this module.

One pub/sub channel carries every node's messages; each node drops its own unread and keeps
what is addressed to it. Publishing never blocks a session: frames queue (bounded) for one
publisher task that sends whatever queued during the previous send as one message. Each call
into asyncio costs several passes of trio's scheduler, so both directions make as few as they
can: one per message sent, and none per message received while more are buffered. If Redis
goes away, both loops retry with backoff, frames queued meanwhile may be dropped, and on
reconnect `on_connected` lets every live session resync.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
import trio
import trio_asyncio
from redis.exceptions import RedisError

from codeinterview.cluster.bus import (
    PRESENCE_TTL_SECONDS,
    BadFrame,
    BusFrame,
    decode_message,
    encode_frame,
    encode_message,
    is_from,
)

log = logging.getLogger(__name__)
Deliver = Callable[[BusFrame], None]

CHANNEL = "codeinterview:bus"
PRESENCE_KEY = "codeinterview:presence:{}"
PUBLISH_BATCH_BYTES = 1 << 20  # frames queued meanwhile go out in one message up to this size
RECEIVE_BUFFER = 64  # messages read but not yet delivered; beyond it, Redis and the socket buffer them
RETRY_MAX_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 5.0


class RedisBus:
    def __init__(self, loop: trio_asyncio.TrioEventLoop, client: aioredis.Redis, node_id: bytes) -> None:
        self._loop = loop
        self._client = client
        self.node_id = node_id
        self.node = node_id.hex()
        self._send, self._receive = trio.open_memory_channel[bytes](10_000)
        self.dropped = 0

    def publish_nowait(self, frame: BusFrame) -> None:
        try:
            self._send.send_nowait(encode_frame(frame))
        except trio.WouldBlock:
            self.dropped += 1  # the periodic resync repairs what this loses

    async def run(self, deliver: Deliver, on_connected: Callable[[], None]) -> None:
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
            size = len(first)
            while size < PUBLISH_BATCH_BYTES:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
                size += len(batch[-1])
            try:
                await self._call(self._client.publish(CHANNEL, encode_message(self.node_id, batch)))
                backoff = 0.1
            except (RedisError, OSError, trio.TooSlowError) as error:
                self.dropped += len(batch)
                log.warning("publishing to Redis failed (%s); retrying in %.1fs", error, backoff)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_SECONDS)

    async def _subscribe_forever(self, deliver: Deliver, on_connected: Callable[[], None]) -> None:
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await self._call(pubsub.subscribe(CHANNEL))
                log.info("subscribed to Redis channel %s", CHANNEL)
                backoff = 0.1
                on_connected()
                await self._listen(pubsub, deliver)
            except* (RedisError, OSError, trio.TooSlowError) as lost:
                log.warning("Redis subscription lost (%s); retrying in %.1fs", lost.exceptions[0], backoff)
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await self._loop.run_aio_coroutine(pubsub.aclose())  # type: ignore[no-untyped-call]
            await trio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX_SECONDS)

    async def _listen(self, pubsub: aioredis.client.PubSub, deliver: Deliver) -> None:
        """Returns or raises when the subscription is lost."""
        send, receive = trio.open_memory_channel[bytes](RECEIVE_BUFFER)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_deliver_all, receive, deliver)
            await self._loop.run_aio_coroutine(_read_messages(self._loop, pubsub, self.node_id, send))

    # -- presence ---------------------------------------------------------------------------

    async def set_presence(self, online: Mapping[str, frozenset[str]]) -> None:
        """Record who is connected to this node, per session, in one round trip for all of them;
        other nodes read it (it expires if this node dies)."""
        at = time.time()
        records = {
            PRESENCE_KEY.format(session_id): json.dumps({"at": at, "participants": sorted(participants)})
            for session_id, participants in online.items()
        }
        try:
            await self._call(_set_presence(self._client, self.node, records))
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


async def _read_messages(
    loop: trio_asyncio.TrioEventLoop,
    pubsub: aioredis.client.PubSub,
    node_id: bytes,
    send: trio.MemorySendChannel[bytes],
) -> None:
    """The asyncio side of the subscription, one coroutine for its whole life: messages already
    buffered are read back to back with no asyncio or trio scheduling in between (one
    `get_message` round trip per message left the socket's receive queue growing)."""
    with send:
        while pubsub.subscribed:
            message = await pubsub.get_message(timeout=None)  # no timeout: no timer per message
            if message is None or message["type"] != "message" or is_from(message["data"], node_id):
                continue
            try:
                # A non-blocking trio call is safe here: trio-asyncio runs asyncio code in a trio task.
                send.send_nowait(message["data"])
            except trio.WouldBlock:
                await loop.trio_as_future(send.send, message["data"])  # trio is behind: wait for it


async def _deliver_all(receive: trio.MemoryReceiveChannel[bytes], deliver: Deliver) -> None:
    """The trio side: everything queued is delivered per wake-up (`receive` yields to the
    scheduler even when a message is waiting)."""
    async with receive:
        async for message in receive:
            _deliver_one(message, deliver)
            while True:
                try:
                    message = receive.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                _deliver_one(message, deliver)


def _deliver_one(message: bytes, deliver: Deliver) -> None:
    try:
        frames = decode_message(message)
    except BadFrame as error:
        log.warning("ignoring a malformed cluster message: %s", error)
        return
    for frame in frames:
        deliver(frame)


async def _set_presence(client: aioredis.Redis, node: str, records: dict[str, str]) -> None:
    pipeline = client.pipeline(transaction=False)
    for key, record in records.items():
        pipeline.hset(key, node, record)
        pipeline.expire(key, PRESENCE_TTL_SECONDS * 2)
    await pipeline.execute()


@asynccontextmanager
async def open_redis_bus(url: str, node_id: bytes) -> AsyncIterator[RedisBus]:
    """A bus for the lifetime of the block; keep it open in a long-lived task (it owns a loop)."""
    async with trio_asyncio.open_loop() as loop:
        client = aioredis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        try:
            yield RedisBus(loop, client, node_id)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await loop.run_aio_coroutine(client.aclose())
