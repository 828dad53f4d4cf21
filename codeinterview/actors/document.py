"""One session's shared document and the y-websocket wire protocol around it; no trio, no I/O.

Byte-compatible with the npm `y-websocket` 1.5 client, and behaving like its reference server
(`bin/utils.js`): one y-protocols message per binary frame, sync updates relayed to the other
connections, awareness relayed to everyone.

pycrdt indexes `Text` in UTF-8 bytes (its CRDT clocks still count UTF-16 units, as Yjs does),
so every position computed here on a Python `str` is converted before it reaches pycrdt.
A pycrdt `Doc` takes no lock of its own unless built with `allow_multithreading`, so one
`SessionDocument` belongs to one thread: the actor's, never a worker thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pycrdt import (
    Doc,
    Map,
    Text,
    TransactionEvent,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    merge_updates,
    write_message,
    write_var_uint,
)

from codeinterview.actors.awareness import AwarenessTable, ByteReader, ProtocolError
from codeinterview.storage.base import DocumentState
from codeinterview.storage.schema import LANGUAGES as STORABLE_LANGUAGES

__all__ = ["FrameResult", "ProtocolError", "SessionDocument", "text_diff"]

# y-protocols message types pycrdt's YMessageType does not name.
MESSAGE_AUTH = 2
MESSAGE_QUERY_AWARENESS = 3


@dataclass(frozen=True)
class FrameResult:
    """What one incoming frame asks the actor to send, and whether the content changed."""

    reply: list[bytes] = field(default_factory=list)
    broadcast: list[bytes] = field(default_factory=list)
    broadcast_all: list[bytes] = field(default_factory=list)
    changed: bool = False


def text_diff(old: str, new: str) -> tuple[int, int, str]:
    """The single splice turning `old` into `new`: (index, delete_count, insert_text).

    Index and count are in Python characters (code points), so no character is ever split.
    """
    prefix = _common_prefix_length(old, new)
    suffix = _common_prefix_length(old[prefix:][::-1], new[prefix:][::-1])
    return prefix, len(old) - prefix - suffix, new[prefix : len(new) - suffix]


def _common_prefix_length(first: str, second: str) -> int:
    # Binary search over slice comparisons: each compare runs in C, so a long document costs
    # a few memcmp calls rather than a Python-level loop over every character.
    low, high = 0, min(len(first), len(second))
    while low < high:
        middle = (low + high + 1) // 2
        if first[:middle] == second[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def _sync_message(sub_type: int, payload: bytes) -> bytes:
    return write_var_uint(YMessageType.SYNC) + write_var_uint(sub_type) + write_message(payload)


def initial_client_id(code: str, language: str) -> int:
    """The Yjs client id that writes a fresh document: a 32-bit hash of what it writes.

    Two builds from the same text then produce identical Yjs items, so a client that saw one
    build re-syncing against the other yields the text once instead of twice. A fixed id would
    be worse than a random one: two builds from different texts would give different content
    the same item ids, and Yjs would silently keep diverging copies.
    """
    key = f"{language}\0{code}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big")


def initial_state(code: str, language: str) -> bytes:
    """The deterministic Yjs update a fresh session starts from; live edits use a random id."""
    doc: Doc[Text | Map[str]] = Doc(client_id=initial_client_id(code, language))
    doc["code"] = text = Text()
    doc["meta"] = meta = Map[str]()
    with doc.transaction():
        text.insert(0, code)
        meta["language"] = language
    return doc.get_update()


def _collector(updates: list[bytes]) -> Callable[[TransactionEvent], None]:
    """The observer that gathers each transaction's update.

    Yjs-style: what leaves the server is the update each transaction actually made, so a
    duplicate (a reconnecting client's step2 repeating what we have) is relayed as nothing.
    It closes over the list only, so that nothing but `close` (which unobserves; pycrdt keeps
    an observed Doc alive until then) decides when a document is freed.
    """

    def collect(event: TransactionEvent) -> None:
        updates.append(event.update)

    return collect


class _Counter:
    """An observer that counts the changes it is told of (and keeps nothing else)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _: object) -> None:
        self.count += 1


class SessionDocument:
    """One session's shared document: Yjs text `code` + map `meta` (key "language").

    Built from a stored `state` when there is one (then `code` is ignored and `language` only
    stands in if the state names none), else from `code` and `language`.
    """

    def __init__(self, *, state: bytes | None = None, code: str = "", language: str = "javascript") -> None:
        self._doc: Doc[Text | Map[str]] = Doc()
        # Assigned rather than `doc.get(...)`, which types its result as the Doc's whole union.
        self._doc["code"] = self._text = Text()
        self._doc["meta"] = self._meta = Map[str]()
        self._default_language = language
        self._updates: list[bytes] = []
        # Never rebuilt from text when a state exists: a client holding the old items would
        # re-sync them next to the rebuilt ones and the text would appear twice.
        self._apply(initial_state(code, language) if state is None else state)
        # An upper bound of the text's length in bytes: what it was when last measured plus
        # every update since (an update holds the text it inserts). Measuring opens a pycrdt
        # transaction, a few percent of the server's CPU when done for every edit.
        self._size_bound = len(self._text)
        self._awareness = AwarenessTable()
        self._subscription = self._doc.observe(_collector(self._updates))
        # Edits almost never touch `meta`: counting its changes spares reading it per edit.
        self._meta_changes = _Counter()
        self._meta_subscription = self._meta.observe(self._meta_changes)

    def close(self) -> None:
        """Release the document: an observed pycrdt Doc is never freed until unobserved."""
        self._doc.unobserve(self._subscription)
        self._meta.unobserve(self._meta_subscription)

    @property
    def code(self) -> str:
        return str(self._text)

    def fits(self, extra: int, limit: int) -> bool:
        """Whether the text stays within `limit` UTF-8 bytes (pycrdt counts in bytes) after
        growing by at most `extra`; measured only when the running bound says it might not."""
        if self._size_bound + extra <= limit:
            return True
        self._size_bound = len(self._text)
        return self._size_bound + extra <= limit

    @property
    def meta_changes(self) -> int:
        """How many transactions have changed `meta` (the language) so far."""
        return self._meta_changes.count

    @property
    def language(self) -> str:
        language = self._meta.get("language")
        return language if isinstance(language, str) else self._default_language

    def set_language(self, language: str) -> bytes | None:
        """Sets `meta.language`; returns the sync update to broadcast, None if unchanged."""
        if self._meta.get("language") == language:
            return None
        self._meta["language"] = language
        return self._take_update()

    def replace_text(self, new_text: str) -> bytes | None:
        """Applies the full new text as one minimal splice, so it merges with concurrent edits.

        Returns the sync update message to broadcast, or None if the text is identical.
        """
        old_text = self.code
        index, delete_count, insert_text = text_diff(old_text, new_text)
        if delete_count == 0 and not insert_text:
            return None
        # Encoding first also refuses a lone surrogate before anything is changed.
        insert_bytes = _utf8_length(insert_text)
        start = _utf8_length(old_text[:index])
        deleted = _utf8_length(old_text[index : index + delete_count])
        with self._doc.transaction():
            if deleted:
                del self._text[start : start + deleted]
            if insert_bytes:
                self._text.insert(start, insert_text)
        return self._take_update()

    def encode_state(self) -> bytes:
        """The full state as one Yjs update: what gets stored."""
        return self._doc.get_update()

    def state_vector(self) -> bytes:
        return self._doc.get_state()

    def sync_step1(self) -> bytes:
        """The message that greets a new binary client."""
        return create_sync_message(self._doc)

    def awareness_states(self) -> bytes | None:
        """The awareness message with every present client, or None if there is none."""
        return self._awareness.states()

    def drop_connection(self, connection_id: int) -> bytes | None:
        """Clears a closed connection's clients; returns the removal message to broadcast."""
        return self._awareness.drop_connection(connection_id)

    def handle_frame(self, connection_id: int, frame: bytes) -> FrameResult:
        """Handles one binary frame from a connection.

        Raises ProtocolError, leaving the document unchanged, if the frame is malformed,
        carries more than one message, or holds an update pycrdt refuses.
        """
        reader = ByteReader(frame)
        message_type = reader.read_var_uint()
        if message_type == YMessageType.SYNC:
            return self._handle_sync(reader)
        if message_type == YMessageType.AWARENESS:
            payload = reader.read_var_bytes()
            reader.expect_end()
            message = self._awareness.apply(connection_id, payload)
            return FrameResult(broadcast_all=[] if message is None else [message])
        if message_type == MESSAGE_QUERY_AWARENESS:
            reader.expect_end()
            states = self.awareness_states()
            return FrameResult(reply=[] if states is None else [states])
        if message_type == MESSAGE_AUTH:
            # Authentication happens before the WebSocket is accepted; y-websocket's own
            # server ignores this message too.
            return FrameResult()
        raise ProtocolError(f"unknown message type {message_type}")

    def _handle_sync(self, reader: ByteReader) -> FrameResult:
        sub_type = reader.read_var_uint()
        payload = reader.read_var_bytes()
        reader.expect_end()
        if sub_type == YSyncMessageType.SYNC_STEP1:
            return FrameResult(reply=[self._sync_step2(payload)])
        if sub_type in (YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE):
            message = self._apply(payload)
            if message is None:
                return FrameResult()
            return FrameResult(broadcast=[message], changed=True)
        raise ProtocolError(f"unknown sync message type {sub_type}")

    def _sync_step2(self, state_vector: bytes) -> bytes:
        try:
            update = self._doc.get_update(state_vector)
        except ValueError as error:
            raise ProtocolError(f"bad state vector: {error}") from error
        return _sync_message(YSyncMessageType.SYNC_STEP2, update)

    def absorb(self, update: bytes) -> None:
        """Merge a whole Yjs update (another copy's state) with nothing to relay."""
        self._apply(update)

    def _apply(self, update: bytes) -> bytes | None:
        # yrs decodes the whole update before integrating any of it, so a refused update
        # leaves the document as it was (the fuzz test in the tests checks this).
        try:
            self._doc.apply_update(update)
        except ValueError as error:
            raise ProtocolError(f"update refused: {error}") from error
        return self._take_update()

    def _take_update(self) -> bytes | None:
        # Re-encoding the received bytes as-is would be as cheap, but it would relay duplicates
        # and not-yet-integrable updates; the transaction's own update is what y-websocket sends.
        updates = self._updates[:]
        self._updates.clear()  # in place: the observer holds this very list
        if not updates:
            return None
        # One transaction per call gives one update; merging guards the one-message-per-frame
        # rule should a future change make two.
        update = updates[0] if len(updates) == 1 else merge_updates(*updates)
        self._size_bound += len(update)
        return create_update_message(update)


def merge_stored(ours: DocumentState, stored: bytes | None) -> DocumentState:
    """Our state combined with the one another node stored: the CRDT union, never a choice.

    Runs in storage's transaction (possibly in a worker thread): it builds its own Doc.
    """
    if stored is None or ours.doc_state is None:
        return ours
    document = SessionDocument(state=stored, language=ours.language)
    try:
        document.absorb(ours.doc_state)
        language = document.language if document.language in STORABLE_LANGUAGES else ours.language
        merged = document.code, document.encode_state()
    finally:
        document.close()
    code, state = merged
    return DocumentState(ours.session_id, code, language, ours.updated_at, state)
