"""Presence (cursors, names) as a y-protocols awareness relay keeps it; no trio, no I/O.

An awareness update on the wire is: varuint count, then per client a varuint clientID, a
varuint clock and a varstring holding that client's JSON state (`null` once it has left).
The server owns no state of its own here; it keeps the newest entry per client so it can greet
newcomers, and remembers which connection announced which client so a closed connection's
cursors can be cleared for everyone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from pycrdt import create_awareness_message, write_var_uint

# lib0 refuses integers past JavaScript's safe range; so do we, which also caps how many bytes
# a varuint may take and keeps a frame of 0xff bytes from becoming one enormous integer.
MAX_SAFE_INTEGER = 2**53 - 1
_MAX_VAR_UINT_BYTES = 8


class ProtocolError(ValueError):
    """A frame or stored state is not valid y-protocols / Yjs data."""


class ByteReader:
    """Reads lib0-encoded varuints, varbytes and varstrings, refusing truncated input.

    pycrdt's own `Decoder` indexes past the end on a truncated varuint and silently returns a
    short slice for a truncated payload, so it cannot tell a malformed frame from a good one.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def read_var_uint(self) -> int:
        value = 0
        for shift in range(0, 7 * _MAX_VAR_UINT_BYTES, 7):
            if self._position >= len(self._data):
                raise ProtocolError("truncated varuint")
            byte = self._data[self._position]
            self._position += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value > MAX_SAFE_INTEGER:
                    break
                return value
        raise ProtocolError("varuint out of range")

    def read_var_bytes(self) -> bytes:
        length = self.read_var_uint()
        end = self._position + length
        if end > len(self._data):
            raise ProtocolError("truncated payload")
        payload = self._data[self._position : end]
        self._position = end
        return payload

    def read_var_string(self) -> str:
        try:
            return self.read_var_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError("varstring is not UTF-8") from error

    def expect_end(self) -> None:
        if self._position != len(self._data):
            raise ProtocolError("trailing bytes after message")


@dataclass(frozen=True)
class AwarenessEntry:
    """One client's awareness as announced: its clock and its JSON state (None once gone)."""

    client_id: int
    clock: int
    state: str | None


def decode_awareness_update(payload: bytes) -> list[AwarenessEntry]:
    """Parses a whole awareness update, so a malformed one is refused before anything changes."""
    reader = ByteReader(payload)
    count = reader.read_var_uint()
    entries = [_read_entry(reader) for _ in range(count)]
    reader.expect_end()
    return entries


def _refuse_constant(name: str) -> object:
    # NaN and Infinity are Python's extensions; JSON.parse in every browser rejects them.
    raise ValueError(f"{name} is not JSON")


def _finite(literal: str) -> float:
    number = float(literal)
    if math.isinf(number):
        raise ValueError(f"{literal} is out of range")
    return number


def _read_entry(reader: ByteReader) -> AwarenessEntry:
    client_id = reader.read_var_uint()
    clock = reader.read_var_uint()
    text = reader.read_var_string()
    # Parsed only to refuse garbage and to spot `null`: peers run JSON.parse on what we relay,
    # and one bad string would break every other participant's message handler.
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except (ValueError, RecursionError) as error:
        raise ProtocolError("awareness state is not JSON") from error
    return AwarenessEntry(client_id, clock, None if parsed is None else text)


def encode_awareness_update(entries: list[AwarenessEntry]) -> bytes:
    """Encodes entries as one awareness update; the state keeps its original JSON text."""
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        # Not pycrdt's Encoder.write_var_string: it writes the length in characters, where
        # lib0 expects UTF-8 bytes, which garbles any non-ASCII name.
        state = ("null" if entry.state is None else entry.state).encode("utf-8")
        parts += [write_var_uint(entry.client_id), write_var_uint(entry.clock)]
        parts += [write_var_uint(len(state)), state]
    return b"".join(parts)


MAX_CLIENTS_PER_CONNECTION = 8


class AwarenessTable:
    """The newest awareness entry per client, and which connection announced each client.

    Not pycrdt's `Awareness`: that one is a participant rather than a relay (it announces a
    state of its own under the document's client id), decodes every state into Python objects
    only for us to re-encode them, and writes varstring lengths in characters, not bytes.
    """

    def __init__(self) -> None:
        self._entries: dict[int, AwarenessEntry] = {}
        self._owners: dict[int, int] = {}

    def apply(self, connection_id: int, payload: bytes) -> bytes | None:
        """Applies an update from a connection; returns the awareness message to relay, if any."""
        accepted = [entry for entry in decode_awareness_update(payload) if self._accept(connection_id, entry)]
        return _message(accepted)

    def _accept(self, connection_id: int, entry: AwarenessEntry) -> bool:
        current = self._entries.get(entry.client_id)
        current_clock = 0 if current is None else current.clock
        present = current is not None and current.state is not None
        # The y-protocols rule: a newer clock wins; an equal clock wins only to remove.
        newer = current_clock < entry.clock
        if not (newer or (current_clock == entry.clock and entry.state is None and present)):
            return False
        if current is None and (entry.state is None or self._crowded(connection_id)):
            # A removal of a client never seen is dropped (relaying or keeping it would let
            # one connection grow this table without bound), and so is a client past the cap.
            return False
        self._entries[entry.client_id] = entry
        if entry.state is None:
            self._owners.pop(entry.client_id, None)
            return True
        self._owners[entry.client_id] = connection_id
        return True

    def _crowded(self, connection_id: int) -> bool:
        # A browser tab announces one client; other nodes (negative ids) relay many.
        if connection_id < 0:
            return False
        owned = sum(1 for owner in self._owners.values() if owner == connection_id)
        return owned >= MAX_CLIENTS_PER_CONNECTION

    def states(self) -> bytes | None:
        """The awareness message announcing every present client, or None if there are none."""
        return _message([entry for entry in self._entries.values() if entry.state is not None])

    def drop_connection(self, connection_id: int) -> bytes | None:
        """Forgets the clients a closed connection announced; returns their removal message."""
        client_ids = [client for client, owner in self._owners.items() if owner == connection_id]
        removed = []
        for client_id in client_ids:
            del self._owners[client_id]
            # Same clock with a null state, as y-websocket's server sends: peers drop the
            # state, and a clock they have already seen does not outrank the client's next
            # real update after it reconnects.
            removed.append(AwarenessEntry(client_id, self._entries.pop(client_id).clock, None))
        # Forgotten rather than kept as a tombstone, so the client's greeting on reconnect
        # (sent with its unchanged clock) is accepted and new joiners see it at once.
        return _message(removed)


def _message(entries: list[AwarenessEntry]) -> bytes | None:
    if not entries:
        return None
    return create_awareness_message(encode_awareness_update(entries))
