"""The task that owns one live session: a receive loop, a flush timer, an idle timer.

All state lives in `LiveSession`; this shell moves commands in and effects out, and talks to
storage through the shared `Flusher`. It ends when idle, when the session ends, or on shutdown.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

import trio

from codeinterview.actors.messages import (
    Close,
    Command,
    Connect,
    Disconnect,
    EndSession,
    Flushed,
    FlushTick,
    Outbox,
    Outgoing,
    ReadDocument,
    ReadPresence,
    ReceiveEvent,
    ReceiveFrame,
    ReceiveRemote,
    RemoveParticipant,
    Reply,
    ReportBadInput,
    Resync,
    Shutdown,
    WriteDocument,
)
from codeinterview.actors.session import Effects, LiveSession
from codeinterview.actors.ticker import FlushTicker
from codeinterview.closecodes import CloseCode
from codeinterview.metrics import Metrics
from codeinterview.storage.base import DocumentState

log = logging.getLogger(__name__)
COMMANDS_PER_YIELD = 32

# (session id, target node or None for every node, y-websocket message); must not block.
Publish = Callable[[str, bytes | None, bytes], None]
# (session id, participants connected here now); must not block.
PresenceChanged = Callable[[str, frozenset[str]], None]


@dataclass(frozen=True, slots=True)
class ActorSettings:
    flush_interval: float
    flush_retry_max: float
    idle_timeout: float
    inbox_size: int
    max_code_bytes: int
    resync_interval: float = math.inf  # finite only in a cluster


def _take_queued(receive: trio.MemoryReceiveChannel[Command]) -> Command | None:
    try:
        return receive.receive_nowait()
    except trio.WouldBlock:
        return None


class SessionActor:
    def __init__(
        self,
        live: LiveSession,
        timing: ActorSettings,
        save: Callable[[DocumentState], Awaitable[None]],
        ticker: FlushTicker,
        metrics: Metrics,
        publish: Publish | None = None,
        on_presence: PresenceChanged | None = None,
    ) -> None:
        self.live = live
        self.metrics = metrics
        self.publish = publish
        self.on_presence = on_presence
        self.announced: frozenset[str] = frozenset()
        self.timing = timing
        self.save = save
        self.ticker = ticker
        self.tick_requested = False
        self.outboxes: dict[int, Outbox] = {}
        self.saved_version = 0
        self.flushing = False
        self.failures = 0
        self.flush_due = math.inf
        self.idle_since = trio.current_time()
        self.expires = math.inf
        self.resync_due = trio.current_time() + timing.resync_interval
        self.durable_waiters: list[tuple[int, Reply[DocumentState], DocumentState]] = []
        self.finished = False

    # -- the loop ---------------------------------------------------------------------------

    async def run(
        self,
        receive: trio.MemoryReceiveChannel[Command],
        inbox: trio.MemorySendChannel[Command],
        may_stop: Callable[[], bool],
    ) -> None:
        self.inbox = inbox
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self.apply(self.live.resync())  # catch up with other nodes, if any
            while not self.finished:
                deadline = self._next_deadline()
                with trio.move_on_at(deadline):
                    await self._handle_until(deadline, receive)
                if trio.current_time() >= deadline:
                    await self._on_timer(may_stop)
            nursery.cancel_scope.cancel()
        if self.on_presence is not None and self.announced:
            self.on_presence(self.live.session_id, frozenset())

    async def _handle_until(self, deadline: float, receive: trio.MemoryReceiveChannel[Command]) -> None:
        """Handle commands until the next timer moves or falls due (the caller's scope).

        One scope serves every command until then, and queued commands are taken without a
        scheduler round each: a scope and a round per command were a tenth of the server's CPU
        at load. The actor still yields every few commands so one busy session cannot hold the
        others up. The one command that waits on storage (a final flush) shields itself."""
        unyielded = 0
        while not self.finished and self._next_deadline() == deadline:
            unyielded += 1
            command = _take_queued(receive) if unyielded < COMMANDS_PER_YIELD else None
            if command is None:
                # Awaited outside the `except` that noticed the empty queue: waiting inside it
                # would keep the exception, its traceback and frames alive while the actor idles.
                command = await receive.receive()
                unyielded = 0
            await self.handle(command)

    def expire_at(self, expires_at_ms: int, now_ms: int) -> None:
        """Close the session's sockets (4410) when its lifetime ends, even mid-edit."""
        self.expires = trio.current_time() + max(0, expires_at_ms - now_ms) / 1000

    def _next_deadline(self) -> float:
        idle = self.idle_since + self.timing.idle_timeout if self._idle_candidate() else math.inf
        return min(self.flush_due, idle, self.expires, self.resync_due)

    def _idle_candidate(self) -> bool:
        return not self.outboxes and not self.dirty and not self.flushing

    @property
    def dirty(self) -> bool:
        return self.live.version > self.saved_version

    async def _on_timer(self, may_stop: Callable[[], bool]) -> None:
        now = trio.current_time()
        if now >= self.expires:
            self.expires = math.inf
            self.apply(self.live.close_all(CloseCode.GONE, "session has expired"))
        if now >= self.resync_due:
            self.resync_due = now + self.timing.resync_interval
            self.apply(self.live.resync())
        if now >= self.flush_due:
            self.flush_due = math.inf
            self._start_flush()
        if self._idle_candidate() and now >= self.idle_since + self.timing.idle_timeout:
            # `may_stop` unregisters the actor atomically when its inbox is empty, so no
            # command is lost: later senders find the channel closed and start a new actor.
            if may_stop():
                self.finished = True

    # -- commands ---------------------------------------------------------------------------

    async def handle(self, command: Command) -> None:
        if isinstance(command, ReceiveFrame):
            self.apply(self.live.receive_frame(command.connection_id, command.data))
        elif isinstance(command, ReceiveEvent):
            self.apply(self.live.receive_event(command.connection_id, command.message))
        elif isinstance(command, Connect):
            self.outboxes[command.peer.connection_id] = command.outbox
            self.apply(self.live.connect(command.peer, command.roster))
            self._announce_presence()
        elif isinstance(command, Disconnect):
            self._forget(command.connection_id)
        elif isinstance(command, ReportBadInput):
            self.apply(self.live.report_bad_input(command.connection_id, command.error))
        elif isinstance(command, Flushed):
            self._on_flushed(command)
        elif isinstance(command, FlushTick):
            self.tick_requested = False
            self._start_flush()
        elif isinstance(command, ReceiveRemote):
            self.apply(self.live.receive_remote(command.node, command.data))
        elif isinstance(command, Resync):
            self.apply(self.live.resync())
        else:
            await self._handle_control(command)

    async def _handle_control(self, command: Command) -> None:
        self.idle_since = trio.current_time()
        if isinstance(command, ReadDocument):
            command.reply.set(self.live.current())
        elif isinstance(command, ReadPresence):
            command.reply.set(self.live.online())
        elif isinstance(command, WriteDocument):
            self.apply(self.live.write(command.code, command.language))
            self._reply_when_durable(command.reply)
        elif isinstance(command, RemoveParticipant):
            reason = "removed from the session"
            self.apply(self.live.close_participant(command.participant_id, CloseCode.FORBIDDEN, reason))
        elif isinstance(command, EndSession):
            self.apply(self.live.close_all(CloseCode.GONE, "session has ended"))
            await self.final_flush()
            self.finished = True
        elif isinstance(command, Shutdown):
            await self.final_flush()
            self.apply(self.live.close_all(CloseCode.GOING_AWAY, "server shutting down"))
            self.finished = True
            command.done.set()

    # -- effects ----------------------------------------------------------------------------

    def apply(self, effects: Effects) -> None:
        for targets, payload in effects.sends:
            self._count(targets, payload)
            for connection_id in targets:
                outbox = self.outboxes.get(connection_id)
                if outbox is None:
                    continue
                try:
                    outbox.send_nowait(payload)
                except trio.WouldBlock:
                    self.kick(connection_id, Close(CloseCode.TOO_SLOW, "too slow to keep up"))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._forget(connection_id)
        for connection_id, close in effects.closes:
            self.kick(connection_id, close)
        if self.publish is not None:
            for target, message in effects.publish:
                self.publish(self.live.session_id, target, message)
        if effects.changed and not self.flushing:
            self._request_tick()

    def _count(self, targets: Collection[int], payload: Outgoing) -> None:
        if targets:
            kind = "yjs" if isinstance(payload, bytes) else "json"
            self.metrics.messages_out_of[kind].inc(len(targets))
            self.metrics.fanout.observe(len(targets))

    def kick(self, connection_id: int, close: Close) -> None:
        outbox = self.outboxes.get(connection_id)
        if outbox is None:
            return
        self.metrics.disconnects.labels(str(close.code)).inc()
        outbox.close = close
        self._forget(connection_id)

    def _forget(self, connection_id: int) -> None:
        outbox = self.outboxes.pop(connection_id, None)
        if outbox is not None:
            outbox.end()
        effects = self.live.disconnect(connection_id)
        self._announce_presence()
        if not self.outboxes:
            self.idle_since = trio.current_time()
            if self.dirty and not self.flushing:
                self.flush_due = trio.current_time()  # the last one left: save now
        self.apply(effects)

    def _announce_presence(self) -> None:
        if self.on_presence is None:
            return
        online = self.live.online()
        if online != self.announced:
            self.announced = online
            self.on_presence(self.live.session_id, online)

    def abandon(self, close: Close) -> None:
        """Close every connection without consulting the session state (it may be broken)."""
        for outbox in self.outboxes.values():
            outbox.close = close
            outbox.end()
        self.outboxes.clear()
        if self.on_presence is not None and self.announced:
            self.on_presence(self.live.session_id, frozenset())

    # -- persistence ------------------------------------------------------------------------

    def _start_flush(self) -> None:
        if self.flushing or not self.dirty:
            self._settle_waiters()
            return
        self.flushing = True
        self.nursery.start_soon(self._flush, self.live.version, self.live.snapshot())

    async def _flush(self, version: int, state: DocumentState) -> None:
        error: str | None = None
        try:
            await self.save(state)
        except Exception as failure:  # a failed flush keeps the state and retries later
            error = str(failure) or type(failure).__name__
        try:
            await self.inbox.send(Flushed(version, error))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    def _request_tick(self) -> None:
        if not self.tick_requested:
            self.tick_requested = True
            self.ticker.request(self.inbox)

    def _on_flushed(self, flushed: Flushed) -> None:
        self.flushing = False
        if flushed.error is None:
            self.failures = 0
            self.saved_version = max(self.saved_version, flushed.version)
            self._settle_waiters()
            if self.dirty:
                self._request_tick()
            return
        self.failures += 1
        backoff = min(self.timing.flush_interval * 2**self.failures, self.timing.flush_retry_max)
        log.warning(
            "flush of session %s failed (attempt %d, retrying in %.1fs): %s",
            self.live.session_id,
            self.failures,
            backoff,
            flushed.error,
        )
        self.flush_due = trio.current_time() + backoff

    def _reply_when_durable(self, reply: Reply[DocumentState]) -> None:
        if not self.dirty:
            reply.set(self.live.current())
            return
        self.durable_waiters.append((self.live.version, reply, self.live.current()))
        if not self.flushing:
            self.flush_due = trio.current_time()

    def _settle_waiters(self) -> None:
        waiting = []
        for version, reply, state in self.durable_waiters:
            if version <= self.saved_version:
                reply.set(state)
            else:
                waiting.append((version, reply, state))
        self.durable_waiters = waiting

    async def final_flush(self) -> None:
        """Save whatever is unsaved before the actor goes away, retrying until cancelled."""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + max(self.timing.flush_retry_max, 5.0)
            while self.dirty:
                version = self.live.version
                try:
                    await self.save(self.live.snapshot())
                except Exception as failure:
                    log.warning("final flush of %s failed: %s", self.live.session_id, failure)
                    await trio.sleep(min(1.0, self.timing.flush_interval))
                    continue
                self.saved_version = max(self.saved_version, version)
        if scope.cancelled_caught:
            log.error("session %s stopped with unsaved edits", self.live.session_id)
        self._settle_waiters()
