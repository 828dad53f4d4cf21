"""The rules of one live session as plain Python: commands in, effects out (no trio, no I/O).

`LiveSession` owns the shared document and who is connected. Each method returns `Effects`:
the frames to put on which connections' outboxes, the sockets to close, and whether the
document changed. The actor (`actors/actor.py`) only carries those effects out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from codeinterview.actors.document import ProtocolError, SessionDocument
from codeinterview.actors.messages import (
    ChangeLanguage,
    ClientMessage,
    Close,
    MoveCursor,
    Outgoing,
    PeerInfo,
    Ping,
    ReplaceCode,
)
from codeinterview.closecodes import CloseCode
from codeinterview.storage.base import DocumentState, ParticipantRecord

LANGUAGES = frozenset({"javascript", "python", "html"})


@dataclass(slots=True)
class Effects:
    sends: list[tuple[Collection[int], Outgoing]] = field(default_factory=list)
    closes: list[tuple[int, Close]] = field(default_factory=list)
    # y-websocket messages for the other nodes of a cluster: (target node or None for all, message)
    publish: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    changed: bool = False

    def send(self, targets: Collection[int], payload: Outgoing) -> None:
        self.sends.append((targets, payload))


class LiveSession:
    def __init__(
        self,
        session_id: str,
        document: SessionDocument,
        now_ms: Callable[[], int],
        updated_at: int,
        max_code_bytes: int = 512 * 1024,
    ) -> None:
        self.session_id = session_id
        self.max_code_bytes = max_code_bytes
        self.document = document
        self.now_ms = now_ms
        self.peers: dict[int, PeerInfo] = {}
        self.yjs: set[int] = set()
        self.json: set[int] = set()
        self.roster: dict[str, ParticipantRecord] = {}
        self.remote_ids: dict[bytes, int] = {}
        self.version = 0
        self.updated_at = updated_at
        self.language = document.language if document.language in LANGUAGES else "javascript"
        # Checked again only when `meta` changes (or now, if the stored one is not ours).
        self.meta_seen = document.meta_changes if document.language == self.language else -1

    # -- presence ---------------------------------------------------------------------------

    def online(self) -> frozenset[str]:
        return frozenset(peer.participant.id for peer in self.peers.values())

    def connections_of(self, participant_id: str) -> list[int]:
        return [cid for cid, peer in self.peers.items() if peer.participant.id == participant_id]

    def connect(self, peer: PeerInfo, roster: Iterable[ParticipantRecord] = ()) -> Effects:
        effects = Effects()
        first = not self.connections_of(peer.participant.id)
        # Each connection brings its own copy of the roster: keep the record already held
        # when it is unchanged, so that the session's connections share one.
        self.roster.update((p.id, p) for p in roster if self.roster.get(p.id) != p)
        self.roster[peer.participant.id] = peer.participant
        self.peers[peer.connection_id] = peer
        if peer.protocol == "yjs":
            self.yjs.add(peer.connection_id)
            effects.send((peer.connection_id,), self.document.sync_step1())
            awareness = self.document.awareness_states()
            if awareness is not None:
                effects.send((peer.connection_id,), awareness)
        else:
            self.json.add(peer.connection_id)
            effects.send((peer.connection_id,), self._event("session_state", self._state_for(peer)))
        if first:
            others = self.json - {peer.connection_id}
            joined = self._event("participant_joined", _participant(peer.participant, True), peer)
            effects.send(others, joined)
        return effects

    def disconnect(self, connection_id: int) -> Effects:
        effects = Effects()
        peer = self.peers.pop(connection_id, None)
        if peer is None:
            return effects
        self.yjs.discard(connection_id)
        self.json.discard(connection_id)
        removal = self.document.drop_connection(connection_id)
        if removal is not None:
            effects.send(tuple(self.yjs), removal)
            effects.publish.append((None, removal))
        if not self.connections_of(peer.participant.id):
            left = self._event("participant_left", _participant(peer.participant, False), peer)
            effects.send(tuple(self.json), left)
        return effects

    # -- edits ------------------------------------------------------------------------------

    def receive_frame(self, connection_id: int, data: bytes) -> Effects:
        peer = self.peers.get(connection_id)
        if peer is None:
            return Effects()
        if peer.protocol == "json":
            # A JSON connection never receives binary frames, so it cannot use the Yjs protocol.
            return self.report_bad_input(connection_id, "binary frames need protocol=yjs")
        if data[:1] == b"\x00" and not self.document.fits(len(data), self.max_code_bytes):
            # A frame can add at most its own size; refusing it whole keeps the client honest
            # about what the server holds (it resyncs on reconnect).
            effects = Effects()
            reason = f"document would exceed {self.max_code_bytes} bytes"
            effects.closes.append((connection_id, Close(CloseCode.MESSAGE_TOO_BIG, reason)))
            return effects
        try:
            result = self.document.handle_frame(connection_id, data)
        except ProtocolError as error:
            return self.report_bad_input(connection_id, f"malformed binary frame: {error}")
        effects = Effects()
        for reply in result.reply:
            effects.send((connection_id,), reply)
        others = tuple(self.yjs - {connection_id})
        for message in result.broadcast:
            effects.send(others, message)
            effects.publish.append((None, message))
        for message in result.broadcast_all:
            # Awareness goes to the others only: the sender knows its own state, and the
            # heartbeat keeps an otherwise silent y-websocket client from timing out.
            effects.send(others, message)
            effects.publish.append((None, message))
        if result.changed:
            self._after_change(effects, peer, exclude=None)
        return effects

    # -- other nodes ------------------------------------------------------------------------

    def resync(self) -> Effects:
        """Ask the other nodes for whatever this node lacks (they answer with sync step 2)."""
        effects = Effects()
        effects.publish.append((None, self.document.sync_step1()))
        return effects

    def receive_remote(self, node: bytes, data: bytes) -> Effects:
        """A y-websocket message from another node: like a client's, but never sent back out."""
        pseudo = self.remote_ids.setdefault(node, -1 - len(self.remote_ids))
        try:
            result = self.document.handle_frame(pseudo, data)
        except ProtocolError:
            return Effects()
        effects = Effects()
        effects.publish.extend((node, reply) for reply in result.reply)
        for message in (*result.broadcast, *result.broadcast_all):
            effects.send(tuple(self.yjs), message)
        if result.changed:
            self._after_change(effects, None, exclude=None)
        return effects

    def receive_event(self, connection_id: int, message: ClientMessage) -> Effects:
        peer = self.peers.get(connection_id)
        if peer is None or peer.protocol == "yjs":
            return Effects()  # a Yjs connection never receives text frames, so no answer either
        if isinstance(message, ReplaceCode):
            return self._replace(peer, message.code)
        if isinstance(message, ChangeLanguage):
            return self._change_language(peer, message.language)
        if isinstance(message, MoveCursor):
            effects = Effects()
            payload = {**message.cursor, "participant_id": peer.participant.id}
            effects.send(tuple(self.json - {connection_id}), self._event("cursor_update", payload, peer))
            return effects
        assert isinstance(message, Ping)
        effects = Effects()
        effects.send((connection_id,), self._event("pong", {}, peer))
        return effects

    def report_bad_input(self, connection_id: int, error: str) -> Effects:
        effects = Effects()
        peer = self.peers.get(connection_id)
        if peer is not None and peer.protocol == "json":
            effects.send((connection_id,), self._event("error", {"message": error}))
        return effects

    def write(self, code: str | None, language: str | None) -> Effects:
        """A REST write: same path as a client edit, with no sending connection."""
        effects = Effects()
        if code is not None:
            self._apply_text(effects, code, sender=None)
        if language is not None:
            self._apply_language(effects, language, sender=None)
        return effects

    def _replace(self, peer: PeerInfo, code: str) -> Effects:
        if len(code.encode("utf-8", "surrogatepass")) > self.max_code_bytes:
            return self.report_bad_input(
                peer.connection_id, f"code exceeds the limit of {self.max_code_bytes} bytes"
            )
        effects = Effects()
        self._apply_text(effects, code, sender=peer)
        return effects

    def _change_language(self, peer: PeerInfo, language: str) -> Effects:
        if language not in LANGUAGES:
            return self.report_bad_input(peer.connection_id, f"unknown language {language!r}")
        effects = Effects()
        self._apply_language(effects, language, sender=peer)
        return effects

    def _apply_text(self, effects: Effects, code: str, sender: PeerInfo | None) -> None:
        update = self.document.replace_text(code)
        if update is None:
            return
        effects.send(tuple(self.yjs), update)
        effects.publish.append((None, update))
        self._after_change(effects, sender, exclude=sender)

    def _apply_language(self, effects: Effects, language: str, sender: PeerInfo | None) -> None:
        update = self.document.set_language(language)
        if update is not None:
            effects.send(tuple(self.yjs), update)
            effects.publish.append((None, update))
        self._after_change(effects, sender, exclude=None)

    def _after_change(self, effects: Effects, sender: PeerInfo | None, exclude: PeerInfo | None) -> None:
        """Bookkeeping after the document moved: JSON mirrors, language sanity, dirtiness."""
        effects.changed = True
        self.version += 1
        self.updated_at = self.now_ms()
        self._check_language(effects, sender)
        if self.json:
            targets = self.json - ({exclude.connection_id} if exclude else set())
            payload: dict[str, object] = {"code": self.document.code}
            effects.send(tuple(targets), self._event("code_update", payload, sender))

    def _check_language(self, effects: Effects, sender: PeerInfo | None) -> None:
        if self.document.meta_changes == self.meta_seen:
            return
        self.meta_seen = self.document.meta_changes
        current = self.document.language
        if current == self.language:
            return
        if current not in LANGUAGES:
            # A Yjs client wrote a language we cannot store: put the last good one back.
            revert = self.document.set_language(self.language)
            if revert is not None:
                effects.send(tuple(self.yjs), revert)
                effects.publish.append((None, revert))
            return
        self.language = current
        effects.send(tuple(self.json), self._event("language_change", {"language": current}, sender))

    # -- lifecycle --------------------------------------------------------------------------

    def close_participant(self, participant_id: str, code: CloseCode, reason: str) -> Effects:
        effects = Effects()
        for cid in self.connections_of(participant_id):
            effects.closes.append((cid, Close(code, reason)))
        return effects

    def close_all(self, code: CloseCode, reason: str) -> Effects:
        effects = Effects()
        effects.closes.extend((cid, Close(code, reason)) for cid in self.peers)
        return effects

    def close(self) -> None:
        """Free the document; the session is not used afterwards."""
        self.document.close()

    def current(self) -> DocumentState:
        """The live text and language, without the (costlier) encoded CRDT state."""
        return DocumentState(self.session_id, self.document.code, self.language, self.updated_at)

    def snapshot(self) -> DocumentState:
        return DocumentState(
            session_id=self.session_id,
            code=self.document.code,
            language=self.language,
            updated_at=self.updated_at,
            doc_state=self.document.encode_state(),
        )

    # -- JSON events ------------------------------------------------------------------------

    def _state_for(self, peer: PeerInfo) -> dict[str, object]:
        online = self.online() | {peer.participant.id}
        return {
            "session_id": self.session_id,
            "code": self.document.code,
            "language": self.language,
            "participants": [_participant(p, p.id in online) for p in self.roster.values()],
            "you": _participant(peer.participant, True),
        }

    def _event(self, kind: str, data: dict[str, object], sender: PeerInfo | None = None) -> str:
        stamped = {**data, "timestamp": self.now_ms()}
        if sender is not None:
            stamped["participant_id"] = sender.participant.id
        return json.dumps({"type": kind, "data": stamped}, ensure_ascii=False, separators=(",", ":"))


def _participant(participant: ParticipantRecord, online: bool) -> dict[str, object]:
    return {
        "id": participant.id,
        "name": participant.name,
        "role": participant.role,
        "color": participant.color,
        "joined_at": participant.joined_at,
        "is_online": online,
    }
