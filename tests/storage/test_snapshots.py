from __future__ import annotations

import pytest

from codeinterview.storage import SnapshotRecord, StorageError, Store
from tests.storage.factories import create_session, new_session_id


async def test_add_list_and_get_snapshots(store: Store) -> None:
    session = await create_session(store)
    later = await store.add_snapshot(
        session.id, label="later", code="b", language="python", created_at=6_000,
        created_by=session.creator_id,
    )
    first = await store.add_snapshot(
        session.id, label=None, code="a", language="javascript", created_at=5_000, created_by=None
    )
    same_time = await store.add_snapshot(
        session.id, label="tie", code="c", language="html", created_at=6_000, created_by=None
    )

    assert first == SnapshotRecord(
        id=first.id, session_id=session.id, label=None, code="a", language="javascript",
        created_at=5_000, created_by=None,
    )
    assert later.created_by == session.creator_id
    assert later.id < same_time.id
    assert await store.list_snapshots(session.id) == [first, later, same_time]
    assert await store.get_snapshot(session.id, later.id) == later


async def test_a_snapshot_belongs_to_its_session(store: Store) -> None:
    session, other = await create_session(store), await create_session(store)
    snapshot = await store.add_snapshot(
        session.id, label=None, code="a", language="python", created_at=1, created_by=None
    )

    assert await store.get_snapshot(other.id, snapshot.id) is None
    assert await store.list_snapshots(other.id) == []
    assert await store.get_snapshot(session.id, 2**40) is None
    assert await store.get_snapshot(session.id, -1) is None


async def test_snapshot_of_a_missing_session_is_refused(store: Store) -> None:
    with pytest.raises(StorageError):
        await store.add_snapshot(
            new_session_id(), label=None, code="", language="python", created_at=1, created_by=None
        )
