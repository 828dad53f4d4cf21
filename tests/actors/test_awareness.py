"""The awareness relay table's bounds."""

from __future__ import annotations

import json

from codeinterview.actors.awareness import (
    MAX_CLIENTS_PER_CONNECTION,
    AwarenessEntry,
    AwarenessTable,
    encode_awareness_update,
)


def update(*entries: tuple[int, int, object]) -> bytes:
    return encode_awareness_update(
        [AwarenessEntry(client, clock, None if state is None else json.dumps(state)) for client, clock, state in entries]
    )


def test_one_connection_cannot_announce_unbounded_clients() -> None:
    table = AwarenessTable()
    for client in range(MAX_CLIENTS_PER_CONNECTION + 5):
        table.apply(1, update((client, 1, {"user": client})))
    assert table.drop_connection(1) is not None
    fresh = AwarenessTable()
    relayed = [fresh.apply(1, update((client, 1, {"n": client}))) for client in range(MAX_CLIENTS_PER_CONNECTION + 5)]
    assert sum(message is not None for message in relayed) == MAX_CLIENTS_PER_CONNECTION
    # Other nodes relay many clients through one pseudo-connection: no cap there.
    assert all(fresh.apply(-1, update((1000 + n, 1, {"n": n}))) for n in range(20))


def test_removals_of_unknown_clients_are_neither_kept_nor_relayed() -> None:
    table = AwarenessTable()
    for client in range(1000):
        assert table.apply(1, update((client, 5, None))) is None
    assert table.states() is None
    assert table.apply(1, update((7, 1, {"back": True}))) is not None
