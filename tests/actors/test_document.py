"""SessionDocument against simulated y-websocket clients: plain pycrdt Docs speaking frames."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import TypedDict

import pytest
from pycrdt import (
    Awareness,
    Doc,
    Map,
    Text,
    TransactionEvent,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    read_message,
    write_message,
    write_var_uint,
)

from codeinterview.actors.document import (
    FrameResult,
    ProtocolError,
    SessionDocument,
    text_diff,
)

# --- a y-websocket client, built only from pycrdt's own protocol helpers -------------------


class Client:
    """One browser tab: its own Yjs doc, what it has queued for the server, what it received."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self.doc: Doc[Text | Map[str]] = Doc()
        self.doc["code"] = self.text = Text()
        self.doc["meta"] = self.meta = Map[str]()
        self.awareness = Awareness(self.doc)
        self.outbox: list[bytes] = []
        self._receiving = False
        self.doc.observe(self._on_transaction)

    def _on_transaction(self, event: TransactionEvent) -> None:
        # As the npm provider does: local changes go to the server, remote ones do not echo.
        if not self._receiving:
            self.outbox.append(create_update_message(event.update))

    @property
    def code(self) -> str:
        return str(self.text)

    def open(self) -> None:
        """The provider's `onopen`: it sends its own sync step1."""
        self.outbox.append(create_sync_message(self.doc))

    def receive(self, message: bytes) -> None:
        if message[0] == YMessageType.SYNC:
            self._receiving = True
            try:
                reply = handle_sync_message(message[1:], self.doc)
            finally:
                self._receiving = False
            if reply is not None:
                self.outbox.append(reply)
        elif message[0] == YMessageType.AWARENESS:
            self.awareness.apply_awareness_update(read_message(message[1:]), "remote")
        else:
            raise AssertionError(f"unexpected message {message!r}")

    def insert(self, index: int, value: str) -> None:
        """Inserts at a position counted in characters (pycrdt itself counts UTF-8 bytes)."""
        self.text.insert(_byte_offset(self.code, index), value)

    def delete(self, index: int, count: int) -> None:
        code = self.code
        start = _byte_offset(code, index)
        del self.text[start : _byte_offset(code, index + count)]


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def full_state_step2(client: Client) -> bytes:
    """A sync step2 carrying everything the client has, as after a server that knew nothing."""
    return bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2]) + write_message(
        client.doc.get_update()
    )


def awareness_frame(entries: list[tuple[int, int, str]]) -> bytes:
    """An awareness message written by hand, independently of the module under test."""
    body = write_var_uint(len(entries))
    for client_id, clock, state in entries:
        body += write_var_uint(client_id) + write_var_uint(clock) + write_message(state.encode())
    return create_awareness_message(body)


def decode_awareness(message: bytes) -> list[tuple[int, int, object]]:
    """(clientID, clock, parsed state) for each entry of an awareness message."""
    assert message[0] == YMessageType.AWARENESS
    body = read_message(message[1:])
    position = 0

    def var_uint() -> int:
        nonlocal position
        value = shift = 0
        while True:
            byte = body[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    entries = []
    for _ in range(var_uint()):
        client_id, clock, length = var_uint(), var_uint(), var_uint()
        state = json.loads(body[position : position + length].decode("utf-8"))
        position += length
        entries.append((client_id, clock, state))
    assert position == len(body)
    return entries


class Hub:
    """The actor's routing, synchronously: replies to the sender, broadcasts to the others."""

    def __init__(self, server: SessionDocument) -> None:
        self.server = server
        self.clients: dict[int, Client] = {}

    def connect(self, client: Client | None = None) -> Client:
        client = client or Client(len(self.clients) + 1)
        self.clients[client.connection_id] = client
        client.receive(self.server.sync_step1())
        states = self.server.awareness_states()
        if states is not None:
            client.receive(states)
        client.open()
        return client

    def send(self, client: Client, frame: bytes) -> FrameResult:
        result = self.server.handle_frame(client.connection_id, frame)
        for message in result.reply:
            client.receive(message)
        for other in self.clients.values():
            for message in result.broadcast_all:
                other.receive(message)
            if other is not client:
                for message in result.broadcast:
                    other.receive(message)
        return result

    def broadcast(self, message: bytes | None) -> None:
        assert message is not None
        for client in self.clients.values():
            client.receive(message)

    def disconnect(self, client: Client) -> None:
        del self.clients[client.connection_id]
        removal = self.server.drop_connection(client.connection_id)
        if removal is not None:
            self.broadcast(removal)

    def flush(self, client: Client) -> None:
        while client.outbox:
            self.send(client, client.outbox.pop(0))

    def pump(self) -> None:
        while any(client.outbox for client in self.clients.values()):
            for client in list(self.clients.values()):
                self.flush(client)


# --- sync ------------------------------------------------------------------------------------


def test_handshake_gives_a_new_client_the_text_and_language() -> None:
    hub = Hub(SessionDocument(code="print('hi')", language="python"))
    client = hub.connect()
    hub.pump()
    assert client.code == "print('hi')"
    assert client.meta["language"] == "python"


def test_client_step1_is_answered_with_step2_to_the_sender_only() -> None:
    server = SessionDocument(code="abc")
    result = server.handle_frame(1, create_sync_message(Doc()))
    assert result.broadcast == [] and result.broadcast_all == [] and not result.changed
    [reply] = result.reply
    assert reply[:2] == bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2])
    fresh: Doc[Text] = Doc()
    fresh.apply_update(read_message(reply[2:]))
    assert str(fresh.get("code", type=Text)) == "abc"


def test_an_update_reaches_the_other_clients_and_marks_the_document_changed() -> None:
    hub = Hub(SessionDocument(code="hello"))
    alice, bob, carol = hub.connect(), hub.connect(), hub.connect()
    hub.pump()
    alice.insert(5, " world")
    [frame] = alice.outbox
    alice.outbox.clear()
    result = hub.send(alice, frame)
    assert result.changed and result.reply == [] and result.broadcast_all == []
    assert [message[:2] for message in result.broadcast] == [b"\x00\x02"]
    assert bob.code == carol.code == hub.server.code == "hello world"


def test_a_duplicate_update_is_not_relayed_and_changes_nothing() -> None:
    hub = Hub(SessionDocument(code="hello"))
    alice = hub.connect()
    hub.pump()
    alice.insert(0, ">")
    frame = alice.outbox.pop()
    assert hub.send(alice, frame).changed
    assert hub.send(alice, frame) == FrameResult()


def test_concurrent_edits_converge() -> None:
    hub = Hub(SessionDocument(code="0123456789"))
    alice, bob, carol = hub.connect(), hub.connect(), hub.connect()
    hub.pump()
    alice.insert(3, "A")
    bob.insert(3, "B")
    carol.delete(2, 4)
    hub.pump()
    assert alice.code == bob.code == carol.code == hub.server.code
    assert "A" in alice.code and "B" in alice.code and "4" not in alice.code


def test_replace_text_merges_with_a_concurrent_client_insert() -> None:
    hub = Hub(SessionDocument(code="def f():\n    return 1\n"))
    alice = hub.connect()
    hub.pump()
    alice.insert(0, "# note\n")  # still in alice's outbox when the server edits
    hub.broadcast(hub.server.replace_text("def f():\n    return 2\n"))
    hub.pump()
    assert alice.code == hub.server.code == "# note\ndef f():\n    return 2\n"


def test_replace_text_is_a_minimal_splice_and_none_when_identical() -> None:
    text = "x = 1\n" * 500
    server = SessionDocument(code=text)
    assert server.replace_text(text) is None
    edited = text[:1500] + "y" + text[1501:]
    message = server.replace_text(edited)
    # One changed character travels as a few bytes, not as a second copy of the text.
    assert message is not None and len(message) < 60
    assert server.code == edited


def test_language_is_mirrored_in_meta_both_ways() -> None:
    hub = Hub(SessionDocument(code="", language="javascript"))
    alice = hub.connect()
    hub.pump()
    message = hub.server.set_language("python")
    assert message is not None and message[:2] == b"\x00\x02"
    hub.broadcast(message)
    assert alice.meta["language"] == hub.server.language == "python"
    assert hub.server.set_language("python") is None
    alice.meta["language"] = "go"
    hub.pump()
    assert hub.server.language == "go"


def test_loading_stored_state_does_not_double_text_when_an_old_client_resyncs() -> None:
    first = Hub(SessionDocument(code="hello"))
    old = first.connect()
    first.pump()
    old.insert(5, " world")
    first.pump()
    # The actor restarts from storage; the old tab reconnects and sends its whole history.
    second = Hub(SessionDocument(state=first.server.encode_state(), code="IGNORED"))
    second.connect(old)
    second.send(old, full_state_step2(old))
    second.pump()
    assert second.server.code == old.code == "hello world"


def test_two_fresh_builds_from_the_same_text_merge_without_doubling() -> None:
    first = Hub(SessionDocument(code="seed", language="python"))
    old = first.connect()
    first.pump()
    # The actor died before its first flush and was rebuilt from the same text.
    second = Hub(SessionDocument(code="seed", language="python"))
    second.connect(old)
    second.send(old, full_state_step2(old))
    second.pump()
    assert second.server.code == old.code == "seed"


def test_builds_from_different_texts_still_converge_when_an_old_client_resyncs() -> None:
    first = Hub(SessionDocument(code="old"))
    old = first.connect()
    first.pump()
    # Text changed outside the CRDT: the rebuild must not reuse the first build's item ids,
    # or the old client and the server would each keep their own content for the same items.
    second = Hub(SessionDocument(code="new"))
    second.connect(old)
    second.send(old, full_state_step2(old))
    second.pump()
    assert old.code == second.server.code
    assert sorted([old.code[:3], old.code[3:]]) == ["new", "old"]


def test_state_vector_and_encode_state_round_trip() -> None:
    server = SessionDocument(code="abc", language="rust")
    copy = SessionDocument(state=server.encode_state())
    assert (copy.code, copy.language) == ("abc", "rust")
    assert copy.state_vector() == server.state_vector()


def test_language_falls_back_to_the_given_default_when_meta_has_none() -> None:
    doc: Doc[Text] = Doc()
    doc.get("code", type=Text).insert(0, "x")
    server = SessionDocument(state=doc.get_update(), language="python")
    assert (server.code, server.language) == ("x", "python")


# --- non-BMP text ----------------------------------------------------------------------------


def test_text_diff_counts_characters_and_never_splits_an_emoji() -> None:
    assert text_diff("abc", "abc") == (3, 0, "")
    assert text_diff("a😀b", "a😁b") == (1, 1, "😁")
    assert text_diff("aaa", "aa") == (2, 1, "")
    assert text_diff("", "🎉x") == (0, 0, "🎉x")


def test_emoji_edits_from_clients_and_server_agree() -> None:
    hub = Hub(SessionDocument(code="a😀b𝄞c"))
    alice, bob = hub.connect(), hub.connect()
    hub.pump()
    alice.insert(2, "🎉")  # between 😀 and b
    bob.delete(3, 1)  # the 𝄞
    hub.pump()
    assert alice.code == bob.code == hub.server.code == "a😀🎉bc"
    hub.broadcast(hub.server.replace_text("a😀🎉b👍c"))
    assert alice.code == bob.code == "a😀🎉b👍c"


def test_replace_text_refuses_a_lone_surrogate_before_changing_anything() -> None:
    server = SessionDocument(code="ok")
    state = server.encode_state()
    with pytest.raises(UnicodeEncodeError):
        server.replace_text("ok\ud83d")
    assert server.encode_state() == state


# --- awareness -------------------------------------------------------------------------------


def test_awareness_is_relayed_to_everyone_and_cleared_when_the_connection_drops() -> None:
    hub = Hub(SessionDocument())
    alice, bob = hub.connect(), hub.connect()
    frame = awareness_frame([(111, 1, '{"user":{"name":"Zoë"}}')])
    result = hub.send(alice, frame)
    assert result.broadcast == [] and result.reply == [] and not result.changed
    assert result.broadcast_all == [frame]
    assert bob.awareness.states[111] == {"user": {"name": "Zoë"}}
    hub.disconnect(alice)
    assert 111 not in bob.awareness.states
    assert hub.server.awareness_states() is None


def test_drop_connection_announces_null_at_the_current_clock() -> None:
    server = SessionDocument()
    server.handle_frame(1, awareness_frame([(5, 3, '{"a":1}'), (6, 1, '{"b":2}')]))
    server.handle_frame(2, awareness_frame([(7, 1, '{"c":3}')]))
    removal = server.drop_connection(1)
    assert removal is not None
    assert decode_awareness(removal) == [(5, 3, None), (6, 1, None)]
    assert server.drop_connection(1) is None
    assert [entry[0] for entry in decode_awareness(server.awareness_states() or b"")] == [7]


def test_a_reconnecting_client_is_accepted_again_at_its_unchanged_clock() -> None:
    server = SessionDocument()
    greeting = awareness_frame([(5, 4, '{"a":1}')])
    server.handle_frame(1, greeting)
    server.drop_connection(1)
    assert server.handle_frame(2, greeting).broadcast_all == [greeting]
    assert server.drop_connection(1) is None  # the client now belongs to connection 2
    assert server.drop_connection(2) is not None


def test_awareness_clock_rules() -> None:
    server = SessionDocument()
    assert server.handle_frame(1, awareness_frame([(5, 2, '{"v":2}')])).broadcast_all
    stale = server.handle_frame(1, awareness_frame([(5, 1, '{"v":1}')]))
    assert stale == FrameResult()
    same = server.handle_frame(1, awareness_frame([(5, 2, '{"v":3}')]))
    assert same == FrameResult()
    removal = awareness_frame([(5, 2, "null")])
    assert server.handle_frame(1, removal).broadcast_all == [removal]
    assert server.awareness_states() is None
    # A removal of a client never seen is not worth relaying.
    assert server.handle_frame(1, awareness_frame([(9, 1, "null")])) == FrameResult()


def test_a_new_client_is_greeted_with_current_awareness_and_query_is_answered() -> None:
    hub = Hub(SessionDocument())
    alice = hub.connect()
    hub.send(alice, awareness_frame([(42, 1, '{"cursor":7}')]))
    bob = hub.connect()
    assert bob.awareness.states[42] == {"cursor": 7}
    result = hub.send(bob, bytes([3]))
    assert result.broadcast == [] and result.broadcast_all == []
    assert [decode_awareness(message) for message in result.reply] == [[(42, 1, {"cursor": 7})]]


def test_query_awareness_with_nobody_present_replies_nothing() -> None:
    assert SessionDocument().handle_frame(1, bytes([3])) == FrameResult()


def test_auth_messages_are_ignored() -> None:
    assert SessionDocument().handle_frame(1, b"\x02\x00\x00") == FrameResult()


# --- malformed frames ------------------------------------------------------------------------

GARBAGE_UPDATE = b"\x01\x01\x05\x05"


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x80", id="truncated-varuint"),
        pytest.param(b"\xff" * 20, id="oversized-varuint"),
        pytest.param(b"\x07", id="unknown-type"),
        pytest.param(b"\x00", id="sync-without-subtype"),
        pytest.param(b"\x00\x05\x00", id="unknown-sync-type"),
        pytest.param(b"\x00\x02\x05ab", id="truncated-update"),
        pytest.param(b"\x00\x02" + write_message(GARBAGE_UPDATE), id="garbage-update"),
        pytest.param(b"\x00\x01" + write_message(GARBAGE_UPDATE), id="garbage-step2"),
        pytest.param(b"\x00\x00" + write_message(b"\x05\x01"), id="garbage-state-vector"),
        pytest.param(b"\x00\x02\x02\x00\x00\x00", id="trailing-bytes"),
        pytest.param(b"\x03\x00", id="query-with-payload"),
        pytest.param(b"\x01\x03\x01\x05", id="truncated-awareness"),
        pytest.param(awareness_frame([(5, 9, "{nope")]), id="awareness-not-json"),
        pytest.param(b"\x01\x05\x01\x05\x09\x01\xff", id="awareness-not-utf8"),
        pytest.param(awareness_frame([(5, 9, "{}")]) + b"\x00", id="awareness-trailing"),
    ],
)
def test_malformed_frames_raise_and_leave_the_document_unchanged(frame: bytes) -> None:
    server = SessionDocument(code="keep me", language="python")
    server.handle_frame(1, awareness_frame([(5, 3, '{"a":1}')]))
    before = (server.encode_state(), server.awareness_states())
    with pytest.raises(ProtocolError):
        server.handle_frame(1, frame)
    assert (server.encode_state(), server.awareness_states()) == before
    assert server.code == "keep me"


def test_a_bad_awareness_entry_refuses_the_whole_message() -> None:
    server = SessionDocument()
    frame = awareness_frame([(5, 1, '{"ok":true}'), (6, 1, "{broken")])
    with pytest.raises(ProtocolError):
        server.handle_frame(1, frame)
    assert server.awareness_states() is None


def test_invalid_stored_state_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        SessionDocument(state=GARBAGE_UPDATE)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        if choice < 0.5 and mutated:
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        elif choice < 0.75 and mutated:
            del mutated[rng.randrange(len(mutated)) :]
        else:
            mutated.insert(rng.randrange(len(mutated) + 1), rng.randrange(256))
    return bytes(mutated)


def test_mutated_frames_either_apply_or_raise_without_a_trace() -> None:
    source = Client(1)
    source.text.insert(0, "hello 😀 world")
    source.meta["language"] = "python"
    frames = list(source.outbox) + [
        create_sync_message(source.doc),
        awareness_frame([(5, 2, '{"user":"é"}')]),
    ]
    rng = random.Random(20240601)
    for _ in range(1500):
        server = SessionDocument(code="base")
        before = (server.encode_state(), server.awareness_states())
        try:
            server.handle_frame(1, _mutate(rng.choice(frames), rng))
        except ProtocolError:
            assert (server.encode_state(), server.awareness_states()) == before
        else:
            server.replace_text("still usable")
            assert server.code == "still usable"


# --- against the real npm client -------------------------------------------------------------

WEB = Path(__file__).resolve().parents[2] / "web"

NODE_CLIENT = r"""
const Y = require('yjs')
const sync = require('y-protocols/dist/sync.cjs')
const awareness = require('y-protocols/dist/awareness.cjs')
const encoding = require('lib0/dist/encoding.cjs')
const decoding = require('lib0/dist/decoding.cjs')
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'))
const doc = new Y.Doc()
if (input.state) Y.applyUpdate(doc, Buffer.from(input.state, 'hex'))
const presence = new awareness.Awareness(doc)
const out = []
const send = (encoder) => out.push(Buffer.from(encoding.toUint8Array(encoder)).toString('hex'))
doc.on('update', (update, origin) => {
  if (origin === 'server') return
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  sync.writeUpdate(encoder, update)
  send(encoder)
})
for (const hex of input.messages) {
  const decoder = decoding.createDecoder(Buffer.from(hex, 'hex'))
  const type = decoding.readVarUint(decoder)
  if (type === 0) {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 0)
    sync.readSyncMessage(decoder, encoder, doc, 'server')
    if (encoding.length(encoder) > 1) send(encoder)
  } else {
    awareness.applyAwarenessUpdate(presence, decoding.readVarUint8Array(decoder), 'server')
  }
}
if (input.edit) {
  doc.getText('code').insert(input.edit.index, input.edit.text)
  presence.setLocalStateField('user', { name: 'Zoë 🎉' })
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint8Array(encoder, awareness.encodeAwarenessUpdate(presence, [doc.clientID]))
  send(encoder)
}
const states = {}
presence.getStates().forEach((state, id) => { if (id !== doc.clientID) states[id] = state })
presence.destroy()
console.log(JSON.stringify({
  frames: out,
  text: doc.getText('code').toString(),
  language: doc.getMap('meta').get('language'),
  state: Buffer.from(Y.encodeStateAsUpdate(doc)).toString('hex'),
  states,
}))
"""


class NodeRun(TypedDict):
    frames: list[str]
    text: str
    language: str | None
    state: str
    states: dict[str, object]


def run_node_client(payload: dict[str, object]) -> NodeRun:
    completed = subprocess.run(
        ["node", "-e", NODE_CLIENT],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=WEB,
        timeout=30,
        check=True,
    )
    result: NodeRun = json.loads(completed.stdout)
    return result


needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (WEB / "node_modules" / "y-protocols").is_dir(),
    reason="needs node and web/node_modules (yjs, y-protocols)",
)


@needs_node
def test_interoperates_with_the_npm_yjs_client() -> None:
    server = SessionDocument(code="héllo 😀", language="python")
    server.handle_frame(99, awareness_frame([(7, 1, '{"user":{"name":"Ann"}}')]))
    # The npm client opens with its own step1 (an empty doc's: `00 00 01 00`).
    [step2] = server.handle_frame(1, b"\x00\x00\x01\x00").reply
    greeting = [server.sync_step1(), server.awareness_states(), step2]
    # "héllo 😀" is 8 UTF-16 units; JavaScript inserts after the emoji.
    first = run_node_client(
        {"messages": [m.hex() for m in greeting if m], "edit": {"index": 8, "text": " 🌍!"}}
    )
    assert first["text"] == "héllo 😀 🌍!" and first["language"] == "python"
    assert first["states"] == {"7": {"user": {"name": "Ann"}}}
    results = [server.handle_frame(1, bytes.fromhex(frame)) for frame in first["frames"]]
    assert server.code == "héllo 😀 🌍!"
    relayed = [m for result in results for m in result.broadcast_all]
    assert [entry[2] for entry in decode_awareness(relayed[-1])] == [{"user": {"name": "Zoë 🎉"}}]
    replace = server.replace_text("hello 😀 🌍!?")
    assert replace is not None
    second = run_node_client({"state": first["state"], "messages": [replace.hex()]})
    assert second["text"] == server.code == "hello 😀 🌍!?"
