from __future__ import annotations

import dataclasses

import pytest

from codeinterview.storage import ParticipantExists, SessionIdTaken, StorageError, Store
from tests.storage.factories import create_session, new_session_id, new_user_id, participant_record


async def test_add_then_get_participant(store: Store) -> None:
    session = await create_session(store)
    guest = participant_record(session.id)

    await store.add_participant(guest)

    assert await store.get_participant(session.id, guest.id) == guest
    assert await store.get_participant(session.id, new_user_id()) is None


async def test_duplicate_participant_raises_participant_exists(store: Store) -> None:
    session = await create_session(store)
    guest = participant_record(session.id)
    await store.add_participant(guest)

    with pytest.raises(ParticipantExists):
        await store.add_participant(dataclasses.replace(guest, name="Again"))

    await store.remove_participant(session.id, guest.id, 9_000)
    with pytest.raises(ParticipantExists):
        await store.add_participant(guest)


async def test_one_user_may_join_many_sessions(store: Store) -> None:
    first = await create_session(store)
    second = await create_session(store)
    user_id = new_user_id()

    await store.add_participant(participant_record(first.id, user_id))
    await store.add_participant(participant_record(second.id, user_id, role="interviewer"))

    in_second = await store.get_participant(second.id, user_id)
    assert in_second is not None and in_second.role == "interviewer"


async def test_participant_of_a_missing_session_is_refused(store: Store) -> None:
    with pytest.raises(StorageError) as raised:
        await store.add_participant(participant_record(new_session_id()))
    assert not isinstance(raised.value, ParticipantExists | SessionIdTaken)


async def test_role_outside_the_check_is_rejected(store: Store) -> None:
    session = await create_session(store)
    bad = participant_record(session.id, role="observer")

    with pytest.raises(StorageError) as raised:
        await store.add_participant(bad)
    assert not isinstance(raised.value, ParticipantExists)
    assert await store.get_participant(session.id, bad.id) is None


async def test_list_is_in_join_order_without_removed(store: Store) -> None:
    session = await create_session(store)  # the creator joined at 1_000
    late = participant_record(session.id, joined_at=5_000)
    tied = sorted(new_user_id() for _ in range(2))
    same_time = [participant_record(session.id, user_id, joined_at=3_000) for user_id in tied]
    gone = participant_record(session.id, joined_at=2_000)
    for participant in (late, *reversed(same_time), gone):
        await store.add_participant(participant)

    await store.remove_participant(session.id, gone.id, 4_000)

    listed = await store.list_participants(session.id)
    assert [p.id for p in listed] == [session.creator_id, *tied, late.id]
    removed = await store.get_participant(session.id, gone.id)
    assert removed == dataclasses.replace(gone, removed_at=4_000)


async def test_removing_twice_keeps_the_first_time(store: Store) -> None:
    session = await create_session(store)
    guest = participant_record(session.id)
    await store.add_participant(guest)

    await store.remove_participant(session.id, guest.id, 4_000)
    await store.remove_participant(session.id, guest.id, 8_000)

    removed = await store.get_participant(session.id, guest.id)
    assert removed is not None and removed.removed_at == 4_000


async def test_update_participant(store: Store) -> None:
    session = await create_session(store)
    guest = participant_record(session.id)
    await store.add_participant(guest)

    renamed = await store.update_participant(session.id, guest.id, name="Grace", color=None)
    recolored = await store.update_participant(session.id, guest.id, name=None, color="#00ff00")
    unchanged = await store.update_participant(session.id, guest.id, name=None, color=None)

    assert renamed == dataclasses.replace(guest, name="Grace")
    assert recolored == dataclasses.replace(guest, name="Grace", color="#00ff00")
    assert unchanged == recolored
    assert await store.get_participant(session.id, guest.id) == recolored


async def test_update_of_missing_or_removed_participant_is_none(store: Store) -> None:
    session = await create_session(store)
    guest = participant_record(session.id)
    await store.add_participant(guest)
    await store.remove_participant(session.id, guest.id, 4_000)

    assert await store.update_participant(session.id, guest.id, name="X", color=None) is None
    assert await store.update_participant(session.id, new_user_id(), name="X", color=None) is None
    removed = await store.get_participant(session.id, guest.id)
    assert removed is not None and removed.name == guest.name


async def test_online_flags(store: Store) -> None:
    session = await create_session(store)
    guest = participant_record(session.id)
    await store.add_participant(guest)

    await store.set_online(session.id, guest.id, True)
    await store.set_online(session.id, session.creator_id, True)
    online = await store.list_participants(session.id)
    assert [p.is_online for p in online] == [True, True]

    await store.set_online(session.id, guest.id, False)
    guest_now = await store.get_participant(session.id, guest.id)
    assert guest_now is not None and not guest_now.is_online

    await store.reset_online()
    assert not any(p.is_online for p in await store.list_participants(session.id))
