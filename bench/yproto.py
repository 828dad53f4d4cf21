"""The y-websocket wire protocol, as little of it as a load generator needs (no CRDT logic).

Messages are built from bytes directly; received updates are identified by the (clientID,
clock) of their first struct, which every server relays unchanged even when it re-encodes the
update (ours, y-websocket and Hocuspocus relay the update their own transaction produced).
"""

from __future__ import annotations

import json

MSG_SYNC = 0
MSG_AWARENESS = 1
MSG_AUTH = 2
MSG_QUERY_AWARENESS = 3
# Hocuspocus-only message types.
HP_SYNC_REPLY = 4
HP_SYNC_STATUS = 8

SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2


def varuint(number: int) -> bytes:
    out = bytearray()
    while number > 127:
        out.append(0x80 | (number & 0x7F))
        number >>= 7
    out.append(number)
    return bytes(out)


def read_varuint(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def varbytes(payload: bytes) -> bytes:
    return varuint(len(payload)) + payload


def varstring(text: str) -> bytes:
    return varbytes(text.encode())


def sync_step1(state_vector: bytes) -> bytes:
    return bytes((MSG_SYNC, SYNC_STEP1)) + varbytes(state_vector)


def sync_step2(update: bytes) -> bytes:
    return bytes((MSG_SYNC, SYNC_STEP2)) + varbytes(update)


def sync_update(update: bytes) -> bytes:
    return bytes((MSG_SYNC, SYNC_UPDATE)) + varbytes(update)


def awareness_update(client_id: int, clock: int, state: dict[str, object] | None) -> bytes:
    encoded = json.dumps(state, separators=(",", ":")).encode()
    payload = b"\x01" + varuint(client_id) + varuint(clock) + varbytes(encoded)
    return bytes((MSG_AWARENESS,)) + varbytes(payload)


def first_struct_id(update: bytes | memoryview, pos: int = 0) -> tuple[int, int] | None:
    """(clientID, clock) of the first struct group of a Yjs v1 update, None if it has none."""
    groups, pos = read_varuint(update, pos)
    if groups == 0:
        return None
    _structs, pos = read_varuint(update, pos)
    client, pos = read_varuint(update, pos)
    clock, _ = read_varuint(update, pos)
    return client, clock


def first_awareness_id(payload: bytes | memoryview, pos: int = 0) -> tuple[int, int] | None:
    """(clientID, clock) of the first entry of an awareness update payload (after the length)."""
    count, pos = read_varuint(payload, pos)
    if count == 0:
        return None
    client, pos = read_varuint(payload, pos)
    clock, _ = read_varuint(payload, pos)
    return client, clock


# -- Hocuspocus framing: every message starts with the document name (varstring) -------------


def hp_prefix(document: str) -> bytes:
    return varstring(document)


def hp_auth(document: str, token: str = "") -> bytes:
    # @hocuspocus/common writeAuthentication: [docName][MessageType.Auth=2][AuthMessageType.Token=0][token]
    return hp_prefix(document) + bytes((MSG_AUTH, 0)) + varstring(token)


def skip_varstring(data: bytes | memoryview, pos: int) -> int:
    length, pos = read_varuint(data, pos)
    return pos + length
