"""The frames nodes exchange over Redis: pure encoding, no I/O.

One frame = version, kind, origin node, target node (zeros: every node), session id, payload.
`YJS` payloads are y-websocket messages exactly as a client would send them (sync step 1/2,
update, awareness), so a node handles a remote frame with the same code as a local one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

VERSION = 1
NODE_ID_BYTES = 16
SESSION_ID_BYTES = 8
EVERYONE = bytes(NODE_ID_BYTES)
PRESENCE_TTL_SECONDS = 30  # a node's presence record counts for this long after its last write
_HEADER = struct.Struct(f"!BB{NODE_ID_BYTES}s{NODE_ID_BYTES}s{SESSION_ID_BYTES}s")


class Kind(IntEnum):
    YJS = 1  # a y-websocket message for the session's document or awareness
    END = 2  # the session was ended: close its sockets
    REMOVE = 3  # a participant was removed: close their sockets (payload: participant id)


class BadFrame(ValueError):
    """Not a frame this version understands."""


@dataclass(frozen=True, slots=True)
class BusFrame:
    kind: Kind
    origin: bytes
    target: bytes
    session_id: str
    payload: bytes

    def for_node(self, node_id: bytes) -> bool:
        return self.origin != node_id and self.target in (EVERYONE, node_id)


def encode(frame: BusFrame) -> bytes:
    header = _HEADER.pack(VERSION, frame.kind, frame.origin, frame.target, frame.session_id.encode("ascii"))
    return header + frame.payload


def decode(data: bytes) -> BusFrame:
    if len(data) < _HEADER.size:
        raise BadFrame("frame shorter than its header")
    version, kind, origin, target, session_id = _HEADER.unpack_from(data)
    if version != VERSION:
        raise BadFrame(f"unknown version {version}")
    try:
        return BusFrame(Kind(kind), origin, target, session_id.decode("ascii"), data[_HEADER.size :])
    except (ValueError, UnicodeDecodeError) as error:
        raise BadFrame(str(error)) from None
