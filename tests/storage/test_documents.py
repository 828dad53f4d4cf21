from __future__ import annotations

import random

import pytest
import trio

from codeinterview.storage import DocumentState, SessionRecord, StorageError, Store
from tests.storage.factories import create_session

BATCH_SIZE = 2_000


async def test_a_new_session_has_no_crdt_state(store: Store) -> None:
    session = await create_session(store, language="html")

    assert await store.load_document(session.id) == DocumentState(
        session_id=session.id, code="", language="html", updated_at=1_000, doc_state=None
    )
    assert await store.load_document("nosuchid") is None


async def test_binary_state_round_trips(store: Store) -> None:
    session = await create_session(store)
    state = DocumentState(
        session_id=session.id,
        code="print('héllo ✓')\n",
        language="python",
        updated_at=7_000,
        doc_state=bytes(range(256)) * 4,
    )

    await store.save_documents([state])

    assert await store.load_document(session.id) == state
    stored = await store.get_session(session.id)
    assert stored is not None
    assert (stored.code, stored.language, stored.updated_at) == (state.code, "python", 7_000)


async def test_nul_in_code_is_replaced_not_refused(store: Store) -> None:
    session = await create_session(store)
    state = DocumentState(session.id, code="a\x00b", language="python", updated_at=3)

    await store.save_documents([state])
    snapshot = await store.add_snapshot(
        session.id, label=None, code="c\x00", language="python", created_at=4, created_by=None
    )

    document = await store.load_document(session.id)
    assert document is not None and document.code == "a\ufffdb"
    assert snapshot.code == "c\ufffd"


async def test_empty_state_and_empty_batch(store: Store) -> None:
    session = await create_session(store)
    state = DocumentState(session.id, code="", language="javascript", updated_at=2, doc_state=b"")

    await store.save_documents([])
    await store.save_documents([state])

    assert await store.load_document(session.id) == state


async def _create_many(store: Store, count: int) -> list[SessionRecord]:
    created: list[SessionRecord] = []
    limiter = trio.CapacityLimiter(8)

    async def create_one() -> None:
        async with limiter:
            created.append(await create_session(store))

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(create_one)
    return created


async def test_a_large_batch_in_one_call(store: Store) -> None:
    sessions = await _create_many(store, BATCH_SIZE)
    states = [
        DocumentState(s.id, f"// {s.id}", "python", updated_at=9_000, doc_state=s.id.encode())
        for s in sessions
    ]

    await store.save_documents(states)

    for state in random.sample(states, 20) + [states[0], states[-1]]:
        assert await store.load_document(state.session_id) == state


async def test_a_deleted_session_in_the_batch_is_skipped(store: Store) -> None:
    kept = await create_session(store)
    deleted = await create_session(store, expires_at=300)
    assert await store.delete_expired(301) >= 1
    states = [
        DocumentState(session.id, code="x", language="python", updated_at=5, doc_state=b"\x01")
        for session in (kept, deleted)
    ]

    await store.save_documents(states)

    assert await store.load_document(kept.id) == states[0]
    assert await store.load_document(deleted.id) is None
    assert await store.get_session(deleted.id) is None


async def test_the_last_state_of_a_session_wins(store: Store) -> None:
    session = await create_session(store)
    older = DocumentState(session.id, code="old", language="python", updated_at=5, doc_state=b"a")
    newer = DocumentState(session.id, code="new", language="html", updated_at=6, doc_state=b"b")

    await store.save_documents([older, newer])

    assert await store.load_document(session.id) == newer


async def test_a_bad_language_fails_the_whole_batch(store: Store) -> None:
    good, bad = await create_session(store), await create_session(store)
    states = [
        DocumentState(good.id, code="fine", language="python", updated_at=5),
        DocumentState(bad.id, code="nope", language="cobol", updated_at=5),
    ]

    with pytest.raises(StorageError):
        await store.save_documents(states)

    for session in (good, bad):
        document = await store.load_document(session.id)
        assert document is not None and (document.code, document.updated_at) == ("", 1_000)
