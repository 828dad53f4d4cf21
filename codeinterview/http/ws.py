"""The WebSocket endpoint `/ws/sessions/{id}`: authenticate, then pump frames to and from the
session actor. A connection is the reader (which also probes a silent peer) and, only while frames
are queued, a writer that sends what the actor could not write at once (see `Outbox`); the reader
ending cancels the writer and waits for it, and a writer that closes the socket ends the reader.

The writer runs in the runtime's nursery for writers, not in a nursery of the connection's own:
an idle connection kept that nursery, its cancel scope and its bookkeeping for as long as it was
open (about 2 KB of every idle connection, tracemalloc). The reader's wait is cancelled through
the one scope it is in at the time (`Connection.reading`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog
import trio

from codeinterview.actors.messages import (
    Close,
    Command,
    Connect,
    Disconnect,
    Flush,
    Outbox,
    PeerInfo,
    Protocol,
    ReceiveEvent,
    ReceiveFrame,
    ReportBadInput,
)
from codeinterview.actors.registry import Registry
from codeinterview.closecodes import CloseCode
from codeinterview.config import Settings
from codeinterview.errors import ApiError, Forbidden, Gone, NotFound, Unauthorized
from codeinterview.http import wire
from codeinterview.http.socket import Socket, SocketClosed, SocketHandler
from codeinterview.logs import bind_session
from codeinterview.runtime import Runtime
from codeinterview.service import Caller, SessionService
from codeinterview.storage.base import StorageError

log = logging.getLogger(__name__)
_connection_ids = itertools.count(1)

COUNTED_FAILURES = frozenset({CloseCode.UNAUTHORIZED, CloseCode.FORBIDDEN, CloseCode.NOT_FOUND})
YJS_PROBE = b"\x03"  # queryAwareness: every y-websocket client answers it
JSON_PROBE = '{"type":"ping","data":{}}'
MAX_RATE_STRIKES = 5
LEAVE_TIMEOUT_SECONDS = 5.0
STALLED_SESSION_SECONDS = 30.0


class Rejected(Exception):
    """The connection must be closed with this code before it joins the session."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.close = Close(code, reason)


@dataclass(slots=True)
class Writing:
    """A connection's writer while it runs: how to cancel it and when it is done."""

    scope: trio.CancelScope
    done: trio.Event


@dataclass(slots=True)
class Connection:
    """A joined connection: its socket, and the queues its reader and writer use."""

    socket: Socket
    connection_id: int
    protocol: Protocol
    inbox: trio.MemorySendChannel[Command]  # the session actor's
    outbox: Outbox  # frames from the actor, for the writer
    writers: trio.Nursery  # where the writer runs: the runtime's
    strikes: int = 0
    ended: bool = False  # the reader is done: a writer that starts now has nothing to do
    reading: trio.CancelScope | None = None  # the scope the reader waits in, if it waits
    writing: Writing | None = None

    def start_writer(self) -> None:
        """For the outbox: run a writer (`RuntimeError` once the runtime has stopped)."""
        self.writers.start_soon(_write, self)

    def stop_reading(self) -> None:
        """End the reader (after `close`, which it checks between waits)."""
        if self.reading is not None:
            self.reading.cancel()

    async def stop_writer(self) -> None:
        """Cancel the writer, if one runs, and wait until it has stopped."""
        self.ended = True
        writing = self.writing
        if writing is not None:
            writing.scope.cancel()
            with trio.CancelScope(shield=True):
                await writing.done.wait()

    @property
    def closed(self) -> bool:
        """Whether we have closed the socket (set before the close frame is even sent)."""
        return self.socket.closed_by_us

    async def send(self, item: bytes | str) -> None:
        # No lock: the check and the ASGI server's own state check run without a checkpoint
        # between them, and the server orders the bytes of concurrent sends.
        if not self.closed:
            await self.socket.send(item)

    async def close(self, close: Close) -> None:
        """Close once; the reader and the writer may both try."""
        if not self.closed:
            await close_socket(self.socket, close)


def socket_handler(runtime_of: Callable[[], Runtime]) -> SocketHandler:
    """The handler for `SessionSockets`; the runtime exists once the app is serving."""

    async def session_socket(socket: Socket, session_id: str) -> None:
        structlog.contextvars.clear_contextvars()
        try:
            await socket.accept()
        except SocketClosed:
            return
        runtime = runtime_of()
        # Set-up runs in calls that have returned before the connection settles down to wait,
        # so nothing it loaded (the caller's records, the roster) stays with the connection.
        joined = await _open(runtime, socket, session_id)
        if joined is None:
            await socket.finish(runtime.settings.ws_close_timeout_seconds)
            return
        connection, first_frame = joined
        socket.settle()
        runtime.metrics.connections.inc()
        _log_opened(connection)
        try:
            connection.outbox.start_writer = connection.start_writer
            connection.start_writer()  # for what the session sent while the connection was set up
            await _read(connection, first_frame, runtime)
        finally:
            await connection.stop_writer()
            connection.outbox.stop()
            connection.outbox.start_writer = None  # no cycle left for the collector
            await _closed(runtime, connection)
        await socket.finish(runtime.settings.ws_close_timeout_seconds)

    return session_socket


async def _open(
    runtime: Runtime, socket: Socket, session_id: str
) -> tuple[Connection, bytes | str | None] | None:
    """Check, authenticate and join: the connection and its first frame, or `None` if the
    socket was refused (and closed with the reason) or has gone."""
    address = socket.remote_addr or "unknown"
    try:
        _check_origin(socket, runtime.settings)
        if runtime.limits.blocked("failures", address) is not None:
            runtime.metrics.rate_limited.labels("failures").inc()
            raise Rejected(CloseCode.TOO_SLOW, "too many failed attempts; try again later")
        return await _join_session(runtime, socket, session_id)
    except Rejected as rejected:
        if rejected.close.code in COUNTED_FAILURES:
            runtime.limits.hit("failures", address)
        await close_socket(socket, rejected.close)
    except SocketClosed:
        pass  # gone before it joined
    return None


def _check_origin(socket: Socket, settings: Settings) -> None:
    """Browsers always send Origin: refuse pages from sites not allowed (cross-site hijacking)."""
    origin = socket.headers.get("origin")
    if origin is None or "*" in settings.cors_origins or origin in settings.cors_origins:
        return
    if urlsplit(origin).netloc == socket.headers.get("host"):
        return  # same origin: the page this server serves
    raise Rejected(CloseCode.FORBIDDEN, "origin not allowed")


async def _join_session(
    runtime: Runtime, socket: Socket, session_id: str
) -> tuple[Connection, bytes | str | None]:
    settings = runtime.settings
    protocol = _requested_protocol(socket)
    first_frame: bytes | str | None = None
    token = socket.args.get("token")
    if token is None:
        token, first_frame = await _await_auth(
            socket, settings.ws_auth_timeout_seconds, settings.ws_preauth_max_bytes
        )
        protocol = "json"
    caller = await _authenticate(runtime.service, session_id, token)
    assert caller.participant is not None
    bind_session(session_id, caller.participant.id)
    connection_id = next(_connection_ids)
    if protocol is None:
        # Speak only after the client has: a y-websocket client opens with sync step 1,
        # a JSON client with any text message. That picks the protocol without a flag.
        first_frame = await _receive_first_frame(socket, settings.ws_auth_timeout_seconds)
        protocol = "yjs" if isinstance(first_frame, bytes) else "json"
    outbox = Outbox(settings.outbound_queue_size)
    outbox.direct = socket.direct_write()
    roster = tuple(await runtime.store.list_participants(caller.session.id))
    peer = PeerInfo(connection_id, caller.participant, protocol)
    inbox = await _join(runtime.registry, session_id, Connect(peer, outbox, roster))
    return Connection(socket, connection_id, protocol, inbox, outbox, runtime.writers), first_frame


def _requested_protocol(socket: Socket) -> Protocol | None:
    requested = socket.args.get("protocol")
    if requested in (None, ""):
        return None
    if requested not in ("json", "yjs"):
        raise Rejected(CloseCode.BAD_REQUEST, "protocol must be 'json' or 'yjs'")
    return requested  # type: ignore[return-value]


async def _await_auth(socket: Socket, timeout: float, max_bytes: int) -> tuple[str, None]:
    with trio.move_on_after(timeout):
        frame = await socket.receive()
        if len(frame) > max_bytes:
            raise Rejected(CloseCode.MESSAGE_TOO_BIG, "authenticate first, with a small auth message")
        if not isinstance(frame, str):
            raise Rejected(
                CloseCode.UNAUTHORIZED, "authenticate first: token query parameter or auth message"
            )
        try:
            message = wire.parse(frame)
        except wire.BadMessage as error:
            raise Rejected(CloseCode.BAD_REQUEST, f"bad auth message: {error}") from None
        if not isinstance(message, wire.AuthMessage):
            raise Rejected(
                CloseCode.UNAUTHORIZED, "authenticate first: token query parameter or auth message"
            )
        return message.token, None
    raise Rejected(CloseCode.AUTH_TIMEOUT, "no credential in time")


async def _receive_first_frame(socket: Socket, timeout: float) -> bytes | str:
    with trio.move_on_after(timeout):
        return await socket.receive()
    raise Rejected(CloseCode.AUTH_TIMEOUT, "no message in time")


async def _authenticate(service: SessionService, session_id: str, token: str) -> Caller:
    try:
        return await service.authenticate(session_id, token)
    except ApiError as error:
        raise Rejected(_close_code_for(error), error.message) from None
    except StorageError:
        raise Rejected(CloseCode.INTERNAL_ERROR, "database unavailable, retry shortly") from None


def _close_code_for(error: ApiError) -> CloseCode:
    if isinstance(error, Unauthorized):
        return CloseCode.FORBIDDEN if error.code == "token_revoked" else CloseCode.UNAUTHORIZED
    if isinstance(error, Forbidden):
        return CloseCode.FORBIDDEN
    if isinstance(error, NotFound):
        return CloseCode.NOT_FOUND
    if isinstance(error, Gone):
        return CloseCode.GONE
    return CloseCode.INTERNAL_ERROR


async def close_socket(socket: Socket, close: Close) -> None:
    try:
        await socket.close(close.code, close.reason[:120])
    except Exception:  # the peer may already be gone; nothing is left to tell it
        log.debug("closing a socket that was already closed", exc_info=True)


async def _closed(runtime: Runtime, connection: Connection) -> None:
    close = connection.outbox.close
    log.info("connection %d closed (%s)", connection.connection_id, close or "by peer")
    runtime.metrics.connections.dec()
    runtime.limits.forget("ws_messages", str(connection.connection_id))
    await _leave(connection.inbox, connection.connection_id)


def _log_opened(connection: Connection) -> None:
    # Not logged from the connection's own coroutine: the logger's caller lookup gives the
    # frame it stops at a frame object, which would then live as long as that coroutine, that
    # is as long as the connection (measured: 140 bytes per connection).
    log.info("connection %d opened (%s)", connection.connection_id, connection.protocol)


async def _join(registry: Registry, session_id: str, connect: Connect) -> trio.MemorySendChannel[Command]:
    for _ in range(3):
        try:
            inbox = await registry.get(session_id)
            await inbox.send(connect)
            return inbox
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            continue
        except ApiError as error:
            raise Rejected(_close_code_for(error), error.message) from None
        except StorageError:
            raise Rejected(CloseCode.INTERNAL_ERROR, "database unavailable, retry shortly") from None
    raise Rejected(CloseCode.INTERNAL_ERROR, "session restarting, retry")


async def _leave(inbox: trio.MemorySendChannel[Command], connection_id: int) -> None:
    # Runs while the connection is being cancelled: shield the goodbye, but bound it.
    with trio.CancelScope(shield=True), trio.move_on_after(LEAVE_TIMEOUT_SECONDS):
        try:
            await inbox.send(Disconnect(connection_id))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the actor is already gone


async def _read(connection: Connection, first_frame: bytes | str | None, runtime: Runtime) -> None:
    """Deliver frames to the session until the peer goes, the session ends the connection (its
    writer closes the socket, then cancels `connection.reading`), or the peer is silent too long."""
    interval = runtime.settings.ws_ping_interval_seconds
    try:
        if first_frame is not None:
            await _deliver(connection, first_frame, runtime)
        while not connection.closed:
            # One scope for many frames, its deadline pushed on at most twice per interval: a
            # scope, or even a deadline, per frame cost several percent of the CPU at load. So a
            # silent peer is probed after between half an interval and an interval of silence.
            # The loop is inline, and awaits the ASGI receive itself, because an idle connection
            # keeps every coroutine on this wait (a few hundred bytes each) for as long as it is open.
            with trio.CancelScope(deadline=trio.current_time() + interval) as silence:
                connection.reading = silence
                while True:
                    frame = connection.socket.frame_of(await connection.socket.next_message())
                    now = trio.current_time()
                    if silence.deadline - now < interval / 2:
                        silence.deadline = now + interval
                    await _deliver(connection, frame, runtime)
                    del frame  # not held while the peer is silent
            if not connection.closed:  # the deadline, not the writer, ended the wait
                await _probe(connection, runtime)
    except (trio.BrokenResourceError, trio.ClosedResourceError, SocketClosed):
        pass  # the peer or the actor is gone; the writer closes the socket with its reason
    except Rejected as rejected:
        await connection.close(rejected.close)
    finally:
        connection.reading = None


async def _probe(connection: Connection, runtime: Runtime) -> None:
    """The peer has been silent for the ping interval: probe it, and close it if it stays silent
    (a half-open TCP connection would otherwise hold its place in the session forever)."""
    frame: bytes | str | None = None
    with trio.move_on_after(runtime.settings.ws_ping_timeout_seconds) as probing:
        connection.reading = probing
        await connection.send(YJS_PROBE if connection.protocol == "yjs" else JSON_PROBE)
        frame = await connection.socket.receive()
    if frame is not None:
        await _deliver(connection, frame, runtime)
    elif not connection.closed:
        raise Rejected(CloseCode.HEARTBEAT_TIMEOUT, "no answer to ping")


async def _deliver(connection: Connection, frame: bytes | str, runtime: Runtime) -> None:
    runtime.metrics.messages_in_of["yjs" if isinstance(frame, bytes) else "json"].inc()
    command = _admit(connection, frame, runtime)
    if command is None:
        return
    try:
        connection.inbox.send_nowait(command)
    except trio.WouldBlock:
        # The session is behind: wait for it, and never drop the frame on a timer's cancel.
        with trio.CancelScope(shield=True) as wait:
            wait.deadline = trio.current_time() + STALLED_SESSION_SECONDS
            await connection.inbox.send(command)
        if wait.cancelled_caught:
            raise Rejected(CloseCode.INTERNAL_ERROR, "session not responding, reconnect") from None


def _admit(connection: Connection, frame: bytes | str, runtime: Runtime) -> Command | None:
    """Apply the per-connection message rate before the frame costs the session anything."""
    if runtime.limits.hit("ws_messages", str(connection.connection_id)) is None:
        connection.strikes = 0
        return _command_for(connection, frame)
    runtime.metrics.rate_limited.labels("ws_messages").inc()
    connection.strikes += 1
    # A Yjs client cannot be told to resend a dropped update, so it is closed (and resyncs
    # on reconnect); a JSON client is warned a few times first.
    if connection.protocol == "yjs" or connection.strikes > MAX_RATE_STRIKES:
        raise Rejected(CloseCode.TOO_SLOW, "message rate exceeded")
    return ReportBadInput(connection.connection_id, "message rate exceeded; message dropped")


def _command_for(connection: Connection, frame: bytes | str) -> Command | None:
    """The actor command for a frame, or `None` for frames answered here (pong, auth)."""
    cid = connection.connection_id
    if isinstance(frame, bytes):
        return ReceiveFrame(cid, frame)
    try:
        message = wire.to_client_message(wire.parse(frame))
    except wire.BadMessage as error:
        return ReportBadInput(cid, str(error))
    return None if message is None else ReceiveEvent(cid, message)


async def _write(connection: Connection) -> None:
    """Send what the actor queued and return; once it has ended the outbox, close the socket
    with its reason and end the reader (see `Outbox` for when a writer runs). Runs in the
    runtime's nursery, so nothing may escape it but the runtime's own cancellation."""
    if connection.ended:
        return  # started just before the reader finished
    writing = connection.writing = Writing(trio.CancelScope(), trio.Event())
    try:
        with writing.scope:
            await _write_queued(connection)
    finally:
        connection.writing = None
        writing.done.set()


async def _write_queued(connection: Connection) -> None:
    outbox = connection.outbox
    try:
        close = await _send_queued(connection)
    except trio.Cancelled:
        outbox.stop()  # the reader has ended, or the server is stopping: nothing more goes out
        raise
    except Exception:
        log.exception("writer of connection %d failed", connection.connection_id)
        outbox.stop()
        close = Close(CloseCode.INTERNAL_ERROR, "internal error, reconnect")
    if close is None:
        return  # all sent; the next frame that has to wait starts another writer
    outbox.stop()
    await connection.close(close)
    connection.stop_reading()


async def _send_queued(connection: Connection) -> Close | None:
    """`None` once the queue is empty; the close to make once the actor has ended it."""
    outbox = connection.outbox
    while True:
        # A checkpoint per frame: a long queue must not hold up every other connection.
        await trio.lowlevel.checkpoint()
        try:
            item = outbox.next_nowait()
        except trio.EndOfChannel:
            return outbox.close or Close(CloseCode.INTERNAL_ERROR, "session restarted, reconnect")
        if item is None:
            return None
        if outbox.close is not None:
            return outbox.close
        if isinstance(item, Close):
            outbox.close = item
            return item
        if isinstance(item, Flush):
            assert outbox.direct is not None  # only a direct write leaves a tail
            await outbox.direct.flush()
        else:
            await connection.send(item)
        del item  # not held while waiting: it may be a whole document
