"""The actor's persistence rules, with a real SQLite store and the real flusher.

The save path is wrapped only to control *when* a flush proceeds or to make the database
refuse a write, so the races below happen deterministically.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio

from codeinterview.actors.actor import ActorSettings, SessionActor
from codeinterview.actors.document import SessionDocument
from codeinterview.actors.flusher import Flusher
from codeinterview.actors.messages import Command, ReadDocument, Reply, WriteDocument
from codeinterview.actors.session import LiveSession
from codeinterview.actors.ticker import FlushTicker
from codeinterview.config import parse_database_url
from codeinterview.metrics import Metrics
from codeinterview.storage import DocumentState, StorageError, Store, open_store
from tests.storage.factories import create_session

TIMING = ActorSettings(
    flush_interval=0.01, flush_retry_max=0.05, idle_timeout=60, inbox_size=16, max_code_bytes=10_000
)
Save = Callable[[DocumentState], Awaitable[None]]


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    async with open_store(parse_database_url(sqlite_url)) as store:
        yield store


async def run_actor(
    store: Store, session_id: str, wrap: Callable[[Save], Save], nursery: trio.Nursery
) -> trio.MemorySendChannel[Command]:
    metrics = Metrics()
    flusher = Flusher(store, metrics)
    ticker = FlushTicker(TIMING.flush_interval)
    nursery.start_soon(flusher.run)
    nursery.start_soon(ticker.run)
    live = LiveSession(session_id, SessionDocument(code=""), lambda: 1, 0)
    actor = SessionActor(live, TIMING, wrap(flusher.save), ticker, metrics)
    send, receive = trio.open_memory_channel[Command](16)
    nursery.start_soon(actor.run, receive, send, lambda: False)
    return send


async def write(inbox: trio.MemorySendChannel[Command], code: str) -> Reply[DocumentState]:
    reply: Reply[DocumentState] = Reply()
    await inbox.send(WriteDocument(code, None, reply))
    return reply


async def test_an_edit_during_a_flush_is_not_lost(sqlite_store: Store) -> None:
    session = await create_session(sqlite_store)
    in_flush, release = trio.Event(), trio.Event()
    saved: list[str] = []

    def gated(save: Save) -> Save:
        async def gated_save(state: DocumentState) -> None:
            saved.append(state.code)
            in_flush.set()
            await release.wait()
            await save(state)

        return gated_save

    async with trio.open_nursery() as nursery:
        inbox = await run_actor(sqlite_store, session.id, gated, nursery)
        first = await write(inbox, "first")
        await in_flush.wait()
        second = await write(inbox, "first, then second")  # arrives while "first" is being saved
        release.set()
        assert (await first.wait()).code == "first"
        assert (await second.wait()).code == "first, then second"
        nursery.cancel_scope.cancel()
    assert saved == ["first", "first, then second"]
    stored = await sqlite_store.load_document(session.id)
    assert stored is not None and stored.code == "first, then second"


async def test_a_failed_flush_keeps_the_edit_and_retries(sqlite_store: Store) -> None:
    session = await create_session(sqlite_store)
    attempts: list[str] = []

    def flaky(save: Save) -> Save:
        async def flaky_save(state: DocumentState) -> None:
            attempts.append(state.code)
            if len(attempts) <= 2:
                raise StorageError("database unavailable")
            await save(state)

        return flaky_save

    async with trio.open_nursery() as nursery:
        inbox = await run_actor(sqlite_store, session.id, flaky, nursery)
        durable = await write(inbox, "survives two failures")
        reply: Reply[DocumentState] = Reply()
        await inbox.send(ReadDocument(reply))
        assert (await reply.wait()).code == "survives two failures"  # served from memory meanwhile
        assert (await durable.wait()).code == "survives two failures"
        nursery.cancel_scope.cancel()
    assert attempts == ["survives two failures"] * 3
    stored = await sqlite_store.load_document(session.id)
    assert stored is not None and stored.code == "survives two failures"
