"""The frames nodes exchange over Redis: pure encoding, no I/O.

One Redis message = version, origin node, then the frames that node published in one go, each:
kind, target node (zeros: every node), session id, payload length, payload. Many frames per
message because each message costs both its publisher and every subscriber a Redis command's
worth of work, and a node's frames come in bursts (a resync asks for every live session at once).
`YJS` payloads are y-websocket messages exactly as a client would send them (sync step 1/2,
update, awareness), so a node handles a remote frame with the same code as a local one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

VERSION = 2  # 1 carried one frame per message; a node of either version rejects the other's
NODE_ID_BYTES = 16
SESSION_ID_BYTES = 8
EVERYONE = bytes(NODE_ID_BYTES)
PRESENCE_TTL_SECONDS = 30  # a node's presence record counts for this long after its last write
_MESSAGE_HEADER = struct.Struct(f"!B{NODE_ID_BYTES}s")
_FRAME_HEADER = struct.Struct(f"!B{NODE_ID_BYTES}s{SESSION_ID_BYTES}sI")


class Kind(IntEnum):
    YJS = 1  # a y-websocket message for the session's document or awareness
    END = 2  # the session was ended: close its sockets
    REMOVE = 3  # a participant was removed: close their sockets (payload: participant id)


class BadFrame(ValueError):
    """Not a message this version understands."""


@dataclass(frozen=True, slots=True)
class BusFrame:
    kind: Kind
    origin: bytes
    target: bytes
    session_id: str
    payload: bytes

    def for_node(self, node_id: bytes) -> bool:
        return self.origin != node_id and self.target in (EVERYONE, node_id)


def encode_frame(frame: BusFrame) -> bytes:
    """One frame's part of a message (its origin goes in the message header)."""
    session_id = frame.session_id.encode("ascii")
    return _FRAME_HEADER.pack(frame.kind, frame.target, session_id, len(frame.payload)) + frame.payload


def encode_message(origin: bytes, frames: Iterable[bytes]) -> bytes:
    """A message of frames from `encode_frame`, in the order given."""
    return b"".join((_MESSAGE_HEADER.pack(VERSION, origin), *frames))


def is_from(message: bytes, node_id: bytes) -> bool:
    """Whether `node_id` published this message: checked without decoding it, because every
    node receives its own messages back from the one channel."""
    return message.startswith(node_id, 1)  # right after the version byte


def decode_message(message: bytes) -> list[BusFrame]:
    """Every frame of a message, or `BadFrame` (all or nothing)."""
    if len(message) < _MESSAGE_HEADER.size:
        raise BadFrame("message shorter than its header")
    version, origin = _MESSAGE_HEADER.unpack_from(message)
    if version != VERSION:
        raise BadFrame(f"unknown version {version}")
    frames = []
    offset = _MESSAGE_HEADER.size
    while offset < len(message):
        frame, offset = _decode_frame(message, offset, origin)
        frames.append(frame)
    return frames


def _decode_frame(message: bytes, offset: int, origin: bytes) -> tuple[BusFrame, int]:
    if len(message) - offset < _FRAME_HEADER.size:
        raise BadFrame("frame shorter than its header")
    kind, target, session_id, length = _FRAME_HEADER.unpack_from(message, offset)
    start = offset + _FRAME_HEADER.size
    end = start + length
    if len(message) < end:
        raise BadFrame("frame shorter than its length")
    try:
        return BusFrame(Kind(kind), origin, target, session_id.decode("ascii"), message[start:end]), end
    except (ValueError, UnicodeDecodeError) as error:
        raise BadFrame(str(error)) from None
