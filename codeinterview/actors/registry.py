"""Get-or-start and reap: the only place that spawns session actors, and their supervisor.

Concurrent first uses of a session share one start (and one load from storage). An actor
that crashes is logged, its sockets are closed with 1011, and the next use starts afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import trio

from codeinterview.actors.actor import ActorSettings, PresenceChanged, Publish, SessionActor
from codeinterview.actors.document import SessionDocument
from codeinterview.actors.flusher import Flusher
from codeinterview.actors.messages import Close, Command, Connect, Reply, Shutdown
from codeinterview.actors.session import LiveSession
from codeinterview.actors.ticker import FlushTicker
from codeinterview.clock import Clock
from codeinterview.closecodes import CloseCode
from codeinterview.errors import Gone, NotFound, Unavailable
from codeinterview.logs import bind_session
from codeinterview.metrics import Metrics
from codeinterview.storage.base import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
SEND_ATTEMPTS = 3
REPLY_TIMEOUT_SECONDS = 10.0


class ActorStopped(Exception):
    """The actor stopped before it could answer; the caller retries with a fresh one."""


@dataclass
class RegistryStats:
    started: int = 0
    stopped: int = 0
    crashed: int = 0


class Registry:
    def __init__(
        self,
        nursery: trio.Nursery,
        store: Store,
        flusher: Flusher,
        ticker: FlushTicker,
        clock: Clock,
        timing: ActorSettings,
        metrics: Metrics,
        publish: Publish | None = None,
        on_presence: PresenceChanged | None = None,
    ) -> None:
        self._publish = publish
        self._on_presence = on_presence
        self._nursery = nursery
        self._metrics = metrics
        metrics.track_live_sessions(lambda: len(self._actors))
        self._store = store
        self._flusher = flusher
        self.ticker = ticker
        self._clock = clock
        self._timing = timing
        self._actors: dict[str, trio.MemorySendChannel[Command]] = {}
        self._starting: dict[str, trio.Event] = {}
        self.stats = RegistryStats()

    def __len__(self) -> int:
        return len(self._actors)

    def live(self, session_id: str) -> bool:
        return session_id in self._actors

    def live_ids(self) -> list[str]:
        return list(self._actors)

    def tell_nowait(self, session_id: str, command: Command) -> bool:
        """Deliver to a live actor without waiting; False if none is live or its inbox is full."""
        inbox = self._actors.get(session_id)
        if inbox is None:
            return False
        try:
            inbox.send_nowait(command)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    async def get(self, session_id: str) -> trio.MemorySendChannel[Command]:
        while True:
            inbox = self._actors.get(session_id)
            if inbox is not None:
                return inbox
            pending = self._starting.get(session_id)
            if pending is not None:
                await pending.wait()
                if session_id not in self._actors:
                    # That start failed; start again so this caller sees its own error.
                    pass
                continue
            return await self._start(session_id)

    async def _start(self, session_id: str) -> trio.MemorySendChannel[Command]:
        started = trio.Event()
        self._starting[session_id] = started
        try:
            inbox: trio.MemorySendChannel[Command] = await self._nursery.start(self._supervise, session_id)
        finally:
            del self._starting[session_id]
            started.set()
        return inbox

    async def send(self, session_id: str, command: Command) -> None:
        """Deliver a command, starting the actor if needed; retried if it just stopped."""
        for _ in range(SEND_ATTEMPTS):
            inbox = await self.get(session_id)
            try:
                await inbox.send(command)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                continue
        raise Unavailable("The session is restarting; try again", code="session_restarting")

    async def call(self, session_id: str, make: Callable[[Reply[T]], Command]) -> T:
        for _ in range(SEND_ATTEMPTS):
            reply: Reply[T] = Reply()
            await self.send(session_id, make(reply))
            try:
                with trio.fail_after(REPLY_TIMEOUT_SECONDS):
                    return await reply.wait()
            except ActorStopped:
                continue
        raise Unavailable("The session is restarting; try again", code="session_restarting")

    async def tell_if_live(self, session_id: str, command: Command) -> None:
        inbox = self._actors.get(session_id)
        if inbox is None:
            return
        try:
            await inbox.send(command)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def shutdown(self) -> None:
        """Flush every live session, then close its sockets with 1001."""
        stops = []
        for inbox in list(self._actors.values()):
            command = Shutdown()
            try:
                inbox.send_nowait(command)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                continue
            stops.append(command.done)
        for done in stops:
            await done.wait()

    # -- supervision ------------------------------------------------------------------------

    async def _supervise(
        self, session_id: str, *, task_status: trio.TaskStatus[trio.MemorySendChannel[Command]]
    ) -> None:
        bind_session(session_id)  # not the participant whose connection started this actor
        live, expires_at = await self._load(session_id)
        inbox, receive = trio.open_memory_channel[Command](self._timing.inbox_size)
        actor = SessionActor(
            live,
            self._timing,
            self._flusher.save,
            self.ticker,
            self._metrics,
            self._publish,
            self._on_presence,
        )
        actor.expire_at(expires_at, self._clock.now_ms())
        self._actors[session_id] = inbox
        self.stats.started += 1
        task_status.started(inbox)
        log.info("session actor started")

        def may_stop() -> bool:
            if receive.statistics().current_buffer_used:
                return False
            self._unregister(session_id, inbox)
            receive.close()
            return True

        try:
            await actor.run(receive, inbox, may_stop)
        except Exception:
            self._crashed(session_id, actor)
        except BaseExceptionGroup as group:
            crashed, rest = group.split(Exception)
            if crashed is not None:
                self._crashed(session_id, actor)
            if rest is not None:
                raise rest from None
        finally:
            self._unregister(session_id, inbox)
            _refuse_pending(receive)
            live.close()
            self.stats.stopped += 1
            log.info("session actor stopped")

    def _crashed(self, session_id: str, actor: SessionActor) -> None:
        self.stats.crashed += 1
        self._metrics.actor_restarts.inc()
        log.exception("session %s crashed; closing its connections", session_id)
        actor.abandon(Close(CloseCode.INTERNAL_ERROR, "session crashed, reconnect"))

    def _unregister(self, session_id: str, inbox: trio.MemorySendChannel[Command]) -> None:
        if self._actors.get(session_id) is inbox:
            del self._actors[session_id]

    async def _load(self, session_id: str) -> tuple[LiveSession, int]:
        session = await self._store.get_session(session_id)
        state = await self._store.load_document(session_id)
        if session is None or state is None:
            raise NotFound("Session not found", code="session_not_found")
        if session.ended_at is not None:
            raise Gone("Session has ended", code="session_ended")
        document = SessionDocument(state=state.doc_state, code=state.code, language=state.language)
        live = LiveSession(
            session_id, document, self._clock.now_ms, state.updated_at, self._timing.max_code_bytes
        )
        return live, session.expires_at


def _refuse_pending(receive: trio.MemoryReceiveChannel[Command]) -> None:
    """Answer whatever was queued when the actor stopped, so nobody waits forever."""
    while True:
        try:
            command = receive.receive_nowait()
        except (trio.WouldBlock, trio.ClosedResourceError, trio.EndOfChannel):
            break
        reply = getattr(command, "reply", None)
        if isinstance(reply, Reply):
            reply.fail(ActorStopped())
        elif isinstance(command, Connect):
            command.outbox.end()
        elif isinstance(command, Shutdown):
            command.done.set()
    receive.close()
