from __future__ import annotations

import dataclasses

import pytest

from codeinterview.storage import SessionIdTaken, StorageError, Store
from tests.storage.factories import (
    create_session,
    new_user_id,
    participant_record,
    session_record,
)


async def test_create_then_get_session_and_creator(store: Store) -> None:
    session = session_record(language="python")
    creator = participant_record(session.id, session.creator_id, role="interviewer")

    await store.create_session(session, creator)

    assert await store.get_session(session.id) == session
    assert await store.get_participant(session.id, creator.id) == creator
    assert await store.list_participants(session.id) == [creator]


async def test_get_missing_session_is_none(store: Store) -> None:
    assert await store.get_session("nosuchid") is None


async def test_id_collision_raises_session_id_taken(store: Store) -> None:
    first = await create_session(store)
    second = session_record(first.id)
    second_creator = participant_record(second.id, second.creator_id, role="interviewer")

    with pytest.raises(SessionIdTaken):
        await store.create_session(second, second_creator)

    assert await store.get_session(first.id) == first
    assert await store.get_participant(first.id, second_creator.id) is None


async def test_create_session_is_atomic(store: Store) -> None:
    session = session_record()
    bad_creator = participant_record(session.id, session.creator_id, role="owner")

    with pytest.raises(StorageError) as raised:
        await store.create_session(session, bad_creator)

    assert not isinstance(raised.value, SessionIdTaken)
    assert await store.get_session(session.id) is None


async def test_language_outside_the_check_is_rejected(store: Store) -> None:
    session = session_record(language="cobol")
    creator = participant_record(session.id, session.creator_id, role="interviewer")

    with pytest.raises(StorageError):
        await store.create_session(session, creator)
    assert await store.get_session(session.id) is None


async def test_end_session_sets_ended_at(store: Store) -> None:
    session = await create_session(store)

    await store.end_session(session.id, 5_000)

    assert await store.get_session(session.id) == dataclasses.replace(session, ended_at=5_000)


async def test_uuids_come_back_canonical(store: Store) -> None:
    creator_id = new_user_id()
    session = session_record(creator_id=creator_id.upper())
    creator = participant_record(session.id, creator_id.upper(), role="interviewer")

    await store.create_session(session, creator)

    stored = await store.get_session(session.id)
    assert stored is not None and stored.creator_id == creator_id
    participant = await store.get_participant(session.id, creator_id)
    assert participant is not None and participant.id == creator_id


async def test_delete_expired_deletes_only_older_sessions(store: Store) -> None:
    # Expiry times far below any other test's rows, so only this test's rows are in play.
    expired = await create_session(store, expires_at=100)
    boundary = await create_session(store, expires_at=150)
    alive = await create_session(store)

    deleted = await store.delete_expired(150)

    assert deleted >= 1
    assert await store.get_session(expired.id) is None
    assert await store.get_session(boundary.id) == boundary
    assert await store.get_session(alive.id) == alive
    await store.delete_expired(151)  # tidy up: PostgreSQL tests share one database


async def test_delete_cascades_to_participants_and_snapshots(store: Store) -> None:
    session = await create_session(store, expires_at=200)
    guest = participant_record(session.id)
    await store.add_participant(guest)
    snapshot = await store.add_snapshot(
        session.id, label="v1", code="x", language="javascript", created_at=3_000, created_by=None
    )

    assert await store.delete_expired(201) >= 1

    assert await store.get_participant(session.id, guest.id) is None
    assert await store.get_participant(session.id, session.creator_id) is None
    assert await store.list_participants(session.id) == []
    assert await store.list_snapshots(session.id) == []
    assert await store.get_snapshot(session.id, snapshot.id) is None
