"""The pure session rules: commands in, effects out, no event loop."""

from __future__ import annotations

import json

from pycrdt import Doc, Map, Text, create_sync_message, create_update_message, handle_sync_message

from codeinterview.actors.document import SessionDocument
from codeinterview.actors.messages import ChangeLanguage, MoveCursor, PeerInfo, Ping, ReplaceCode
from codeinterview.actors.session import Effects, LiveSession
from codeinterview.closecodes import CloseCode
from codeinterview.storage.base import ParticipantRecord

NOW = 1_700_000_000_000


def participant(pid: str, role: str = "candidate") -> ParticipantRecord:
    return ParticipantRecord(pid, "s1", pid.title(), role, "red", NOW)


def session(code: str = "hello", language: str = "javascript", max_code_bytes: int = 1024) -> LiveSession:
    return LiveSession("s1", SessionDocument(code=code, language=language), lambda: NOW, NOW, max_code_bytes)


def sent_to(effects: Effects, connection_id: int) -> list[object]:
    return [payload for targets, payload in effects.sends if connection_id in targets]


def events(effects: Effects, connection_id: int) -> list[dict[str, object]]:
    return [json.loads(p) for p in sent_to(effects, connection_id) if isinstance(p, str)]


def test_greetings_depend_on_the_protocol() -> None:
    live = session()
    yjs = live.connect(PeerInfo(1, participant("ada", "interviewer"), "yjs"))
    assert [type(p) for p in sent_to(yjs, 1)] == [bytes]  # sync step 1, nothing else yet
    state = live.connect(PeerInfo(2, participant("grace"), "json"))
    greeting = events(state, 2)[0]
    assert greeting["type"] == "session_state"
    assert greeting["data"]["code"] == "hello" and greeting["data"]["you"]["id"] == "grace"  # type: ignore[index]
    assert not sent_to(state, 1)  # Yjs peers never receive JSON


def test_json_edit_reaches_yjs_peers_and_other_json_peers() -> None:
    live = session()
    live.connect(PeerInfo(1, participant("ada"), "yjs"))
    live.connect(PeerInfo(2, participant("grace"), "json"))
    live.connect(PeerInfo(3, participant("linus"), "json"))
    effects = live.receive_event(2, ReplaceCode("hello world"))
    assert effects.changed and live.version == 1
    updates = sent_to(effects, 1)
    assert len(updates) == 1 and isinstance(updates[0], bytes)
    assert updates[0][:2] == b"\x00\x02"  # sync / update
    client = Doc()
    client["code"] = text = Text()
    client.apply_update(live.document.encode_state())
    assert str(text) == "hello world"
    assert [e["type"] for e in events(effects, 3)] == ["code_update"]
    assert events(effects, 3)[0]["data"]["participant_id"] == "grace"  # type: ignore[index]
    assert not events(effects, 2)  # the sender already has its text
    assert effects.publish  # other nodes hear of it too


def test_yjs_update_mirrors_to_json_clients() -> None:
    live = session(code="")
    live.connect(PeerInfo(1, participant("ada"), "yjs"))
    live.connect(PeerInfo(2, participant("grace"), "json"))
    client = Doc()
    client["code"] = text = Text()
    step2 = handle_sync_message(live.document.sync_step1()[1:], client)
    assert step2 is not None
    handle_sync_message(create_sync_message(client)[1:], client)
    updates: list[bytes] = []
    client.observe(lambda event: updates.append(event.update))
    client.apply_update(live.document.encode_state())
    updates.clear()
    text.insert(0, "typed")
    effects = live.receive_frame(1, create_update_message(updates[0]))
    assert events(effects, 2)[0] == {
        "type": "code_update",
        "data": {"code": "typed", "timestamp": NOW, "participant_id": "ada"},
    }


def test_unknown_language_from_json_is_refused_and_from_yjs_reverted() -> None:
    live = session(language="python")
    live.connect(PeerInfo(2, participant("grace"), "json"))
    refused = live.receive_event(2, ChangeLanguage("cobol"))
    assert events(refused, 2)[0]["type"] == "error" and live.language == "python"
    live.connect(PeerInfo(1, participant("ada"), "yjs"))
    client = Doc()
    client["meta"] = meta = Map()
    client.apply_update(live.document.encode_state())
    updates: list[bytes] = []
    client.observe(lambda event: updates.append(event.update))
    meta["language"] = "cobol"
    effects = live.receive_frame(1, create_update_message(updates[-1]))
    assert live.language == "python" and live.document.language == "python"
    assert sent_to(effects, 1)  # the revert goes back to the sender too


def test_code_over_the_limit_is_refused_whole() -> None:
    live = session(code="keep", max_code_bytes=10)
    live.connect(PeerInfo(2, participant("grace"), "json"))
    effects = live.receive_event(2, ReplaceCode("x" * 11))
    assert events(effects, 2)[0]["type"] == "error"
    assert live.document.code == "keep" and not effects.changed


def test_presence_events_and_cursor_relay() -> None:
    live = session()
    live.connect(PeerInfo(1, participant("ada"), "json"))
    joined = live.connect(PeerInfo(2, participant("grace"), "json"))
    assert events(joined, 1)[0]["type"] == "participant_joined"
    second_tab = live.connect(PeerInfo(3, participant("grace"), "json"))
    assert not events(second_tab, 1)  # already online
    cursor = live.receive_event(2, MoveCursor({"position": 4}))
    assert events(cursor, 1)[0]["data"] == {"position": 4, "participant_id": "grace", "timestamp": NOW}
    assert not events(live.disconnect(2), 1)
    left = live.disconnect(3)
    assert events(left, 1)[0]["type"] == "participant_left"
    assert live.online() == frozenset({"ada"})
    assert events(live.receive_event(1, Ping()), 1)[0]["type"] == "pong"


def test_removal_closes_only_that_participant() -> None:
    live = session()
    live.connect(PeerInfo(1, participant("ada"), "yjs"))
    live.connect(PeerInfo(2, participant("grace"), "json"))
    live.connect(PeerInfo(3, participant("grace"), "yjs"))
    effects = live.close_participant("grace", CloseCode.FORBIDDEN, "removed")
    assert sorted(cid for cid, _ in effects.closes) == [2, 3]


def test_remote_frames_are_never_published_again() -> None:
    one, two = session(code=""), session(code="")
    one.connect(PeerInfo(1, participant("ada"), "yjs"))
    two.connect(PeerInfo(1, participant("grace"), "json"))
    edit = one.write("from node one", None)
    assert len(edit.publish) == 1
    _, message = edit.publish[0]
    received = two.receive_remote(b"node-one", message)
    assert not [m for target, m in received.publish if target is None]
    assert two.document.code == "from node one"
    assert events(received, 1)[0]["data"]["code"] == "from node one"  # type: ignore[index]
