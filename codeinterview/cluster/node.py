"""This node's part in a cluster: frames out of local actors onto the bus, frames off the bus
into local actors, presence written for the other nodes, and revocations announced."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from codeinterview.actors.messages import EndSession, ReceiveRemote, RemoveParticipant, Resync
from codeinterview.actors.registry import Registry
from codeinterview.cluster.bus import EVERYONE, PRESENCE_TTL_SECONDS, BusFrame, Kind

if TYPE_CHECKING:
    from codeinterview.cluster.redis import RedisBus

log = logging.getLogger(__name__)
PRESENCE_REFRESH_SECONDS = PRESENCE_TTL_SECONDS / 3


class ClusterNode:
    def __init__(self, bus: RedisBus, node_id: bytes) -> None:
        self.bus = bus
        self.node_id = node_id
        self.registry: Registry | None = None
        self.presence: dict[str, frozenset[str]] = {}
        self._presence_send, self._presence_receive = trio.open_memory_channel[str](10_000)

    # -- out of local actors ----------------------------------------------------------------

    def publish(self, session_id: str, target: bytes | None, message: bytes) -> None:
        self.bus.publish_nowait(BusFrame(Kind.YJS, self.node_id, target or EVERYONE, session_id, message))

    def presence_changed(self, session_id: str, online: frozenset[str]) -> None:
        if online:
            self.presence[session_id] = online
        else:
            self.presence.pop(session_id, None)
        self._queue_presence(session_id)

    def _queue_presence(self, session_id: str) -> None:
        try:
            self._presence_send.send_nowait(session_id)
        except trio.WouldBlock:
            pass  # the periodic refresh writes it soon

    def announce_end(self, session_id: str) -> None:
        self.bus.publish_nowait(BusFrame(Kind.END, self.node_id, EVERYONE, session_id, b""))

    def announce_removal(self, session_id: str, participant_id: str) -> None:
        payload = participant_id.encode()
        self.bus.publish_nowait(BusFrame(Kind.REMOVE, self.node_id, EVERYONE, session_id, payload))

    # -- into local actors ------------------------------------------------------------------

    def deliver(self, frame: BusFrame) -> None:
        if self.registry is None or not frame.for_node(self.node_id):
            return
        if frame.kind is Kind.YJS:
            command: ReceiveRemote | EndSession | RemoveParticipant = ReceiveRemote(
                frame.origin, frame.payload
            )
        elif frame.kind is Kind.END:
            command = EndSession()
        else:
            command = RemoveParticipant(frame.payload.decode(errors="replace"))
        if not self.registry.tell_nowait(frame.session_id, command) and frame.kind is Kind.YJS:
            # A full inbox dropped it; a resync fetches whatever it carried.
            self.registry.tell_nowait(frame.session_id, Resync())

    def connected(self) -> None:
        """(Re)subscribed: whatever was published meanwhile was missed, so resync everything."""
        if self.registry is None:
            return
        for session_id in self.registry.live_ids():
            self.registry.tell_nowait(session_id, Resync())
        for session_id in self.presence:
            self._queue_presence(session_id)

    # -- tasks ------------------------------------------------------------------------------

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.bus.run, self.deliver, self.connected)
            nursery.start_soon(self._write_presence)
            nursery.start_soon(self._refresh_presence)

    async def _write_presence(self) -> None:
        # Changes queued while the previous write was out go together (a wave of joins is many).
        async for session_id in self._presence_receive:
            changed = {session_id}
            while True:
                try:
                    changed.add(self._presence_receive.receive_nowait())
                except trio.WouldBlock:
                    break
            await self.bus.set_presence({each: self.presence.get(each, frozenset()) for each in changed})

    async def _refresh_presence(self) -> None:
        while True:
            await trio.sleep(PRESENCE_REFRESH_SECONDS)
            if self.presence:
                await self.bus.set_presence(dict(self.presence))

    async def online(self, session_id: str) -> frozenset[str]:
        return await self.bus.online(session_id)


@asynccontextmanager
async def open_cluster_node(redis_url: str | None) -> AsyncIterator[ClusterNode | None]:
    """A node of a cluster when `redis_url` is set; otherwise `None`, and Redis is never imported."""
    if redis_url is None:
        yield None
        return
    from codeinterview.cluster.redis import open_redis_bus

    node_id = uuid.uuid4().bytes
    async with open_redis_bus(redis_url, node_id) as bus:
        log.info("cluster node %s on %s", node_id.hex(), redis_url.rsplit("@", 1)[-1])
        yield ClusterNode(bus, node_id)
