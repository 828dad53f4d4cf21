"""The session rules behind the REST API: who may do what, and in which order it is checked."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from codeinterview.auth import Claims, issue_token, read_token
from codeinterview.clock import Clock
from codeinterview.documents import Documents
from codeinterview.errors import Conflict, Forbidden, Gone, NotFound, Unauthorized
from codeinterview.storage.base import (
    DocumentState,
    ParticipantExists,
    ParticipantRecord,
    SessionIdTaken,
    SessionRecord,
    SnapshotRecord,
    Store,
)

INTERVIEWER = "interviewer"
CANDIDATE = "candidate"
ID_ATTEMPTS = 8
MAX_SNAPSHOT_ID = 2**31 - 1  # the column is a 32-bit integer


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a participant with a valid token, or nobody (open-access reads)."""

    session: SessionRecord
    participant: ParticipantRecord | None

    @property
    def is_interviewer(self) -> bool:
        return self.participant is not None and self.participant.role == INTERVIEWER


@dataclass(frozen=True, slots=True)
class Policy:
    secret: str
    session_ttl_ms: int
    open_access: bool


class SessionService:
    def __init__(self, store: Store, documents: Documents, clock: Clock, policy: Policy) -> None:
        self.store = store
        self.documents = documents
        self.clock = clock
        self.policy = policy

    # -- sessions ---------------------------------------------------------------------------

    async def create_session(
        self, *, creator_id: str, name: str, color: str, code: str, language: str
    ) -> tuple[SessionRecord, ParticipantRecord, str]:
        for _ in range(ID_ATTEMPTS):
            session, creator = self._new_session(creator_id, name, color, code, language)
            try:
                await self.store.create_session(session, creator)
            except SessionIdTaken:
                continue  # 32-bit ids collide at scale; draw again
            return session, creator, self.token_for(session, creator)
        raise Conflict("Could not allocate a session id; try again", code="id_exhausted")

    def _new_session(
        self, creator_id: str, name: str, color: str, code: str, language: str
    ) -> tuple[SessionRecord, ParticipantRecord]:
        now = self.clock.now_ms()
        session = SessionRecord(
            id=secrets.token_hex(4),
            created_at=now,
            updated_at=now,
            expires_at=now + self.policy.session_ttl_ms,
            code=code,
            language=language,
            creator_id=creator_id,
            candidate_invite=secrets.token_urlsafe(24),
            interviewer_invite=secrets.token_urlsafe(24),
        )
        creator = ParticipantRecord(creator_id, session.id, name, INTERVIEWER, color, now)
        return session, creator

    def token_for(self, session: SessionRecord, participant: ParticipantRecord) -> str:
        claims = Claims(participant.id, session.id, participant.role, session.expires_at)
        return issue_token(self.policy.secret, claims)

    async def authenticate(
        self, session_id: str, token: str | None, *, anonymous_read: bool = False
    ) -> Caller:
        """Resolve a caller; the order of checks keeps session ids from being enumerable."""
        if token is None:
            if not (anonymous_read and self.policy.open_access):
                raise Unauthorized("Authentication required", code="missing_token")
            return Caller(await self.live_session(session_id), None)
        claims = read_token(self.policy.secret, token)
        if claims.session_id != session_id:
            raise Forbidden("Token belongs to another session", code="wrong_session")
        session = await self.live_session(session_id)
        participant = await self.store.get_participant(session_id, claims.participant_id)
        if participant is None or participant.removed_at is not None:
            raise Unauthorized("Participant was removed from this session", code="token_revoked")
        return Caller(session, participant)

    async def live_session(self, session_id: str) -> SessionRecord:
        session = await self.store.get_session(session_id)
        if session is None:
            raise NotFound("Session not found", code="session_not_found")
        self.ensure_open(session)
        return session

    def ensure_open(self, session: SessionRecord) -> None:
        if session.ended_at is not None:
            raise Gone("Session has ended", code="session_ended")
        if session.expires_at <= self.clock.now_ms():
            raise Gone("Session has expired", code="session_expired")

    async def end_session(self, caller: Caller) -> None:
        if not caller.is_interviewer:
            raise Forbidden("Only an interviewer can end the session", code="not_interviewer")
        await self.store.end_session(caller.session.id, self.clock.now_ms())
        await self.documents.session_ended(caller.session.id)

    # -- participants -----------------------------------------------------------------------

    async def join(
        self,
        session_id: str,
        *,
        invite: str | None,
        participant_id: str,
        name: str,
        color: str,
    ) -> tuple[ParticipantRecord, str]:
        if invite is None and not self.policy.open_access:
            raise Unauthorized("An invite is required to join", code="missing_invite")
        session = await self.store.get_session(session_id)
        role = _role_for(session, invite)
        if session is None or role is None:
            # One answer for "no such session" and "wrong invite": ids stay unguessable.
            if session is None and invite is None:
                raise NotFound("Session not found", code="session_not_found")
            raise Unauthorized("Invalid invite", code="invalid_invite")
        self.ensure_open(session)
        participant = ParticipantRecord(participant_id, session_id, name, role, color, self.clock.now_ms())
        try:
            await self.store.add_participant(participant)
        except ParticipantExists:
            raise Conflict("This participant id already joined", code="participant_exists") from None
        return participant, self.token_for(session, participant)

    async def update_participant(
        self, caller: Caller, participant_id: str, *, name: str | None, color: str | None
    ) -> ParticipantRecord:
        if caller.participant is None or caller.participant.id != participant_id:
            raise Forbidden("Participants can only change themselves", code="not_self")
        updated = await self.store.update_participant(
            caller.session.id, participant_id, name=name, color=color
        )
        if updated is None:
            raise NotFound("Participant not found", code="participant_not_found")
        return updated

    async def remove_participant(self, caller: Caller, participant_id: str) -> None:
        me = caller.participant
        if me is None or (me.id != participant_id and not caller.is_interviewer):
            raise Forbidden("Only an interviewer can remove others", code="not_interviewer")
        target = await self.store.get_participant(caller.session.id, participant_id)
        if target is None or target.removed_at is not None:
            raise NotFound("Participant not found", code="participant_not_found")
        await self.store.remove_participant(caller.session.id, participant_id, self.clock.now_ms())
        await self.documents.participant_removed(caller.session.id, participant_id)

    # -- code and snapshots -----------------------------------------------------------------

    async def read_code(self, caller: Caller) -> DocumentState:
        return await self.documents.read(caller.session)

    async def write_code(self, caller: Caller, *, code: str | None, language: str | None) -> DocumentState:
        _require_participant(caller)
        return await self.documents.write(caller.session, code=code, language=language)

    async def save_snapshot(self, caller: Caller, label: str | None) -> SnapshotRecord:
        _require_participant(caller)
        state = await self.documents.read(caller.session)
        return await self.store.add_snapshot(
            caller.session.id,
            label=label,
            code=state.code,
            language=state.language,
            created_at=self.clock.now_ms(),
            created_by=caller.participant.id if caller.participant else None,
        )

    async def get_snapshot(self, caller: Caller, snapshot_id: int) -> SnapshotRecord:
        in_range = 0 < snapshot_id <= MAX_SNAPSHOT_ID
        snapshot = await self.store.get_snapshot(caller.session.id, snapshot_id) if in_range else None
        if snapshot is None:
            raise NotFound("Snapshot not found", code="snapshot_not_found")
        return snapshot

    # -- housekeeping -----------------------------------------------------------------------

    async def sweep(self, retention_ms: int) -> int:
        """Delete sessions expired for longer than the retention period."""
        return await self.store.delete_expired(self.clock.now_ms() - retention_ms)


def _role_for(session: SessionRecord | None, invite: str | None) -> str | None:
    if session is None:
        return None
    if invite is None:
        return CANDIDATE  # only reachable in open-access mode
    offered = invite.encode()
    if secrets.compare_digest(offered, session.interviewer_invite.encode()):
        return INTERVIEWER
    if secrets.compare_digest(offered, session.candidate_invite.encode()):
        return CANDIDATE
    return None


def _require_participant(caller: Caller) -> None:
    if caller.participant is None:
        raise Unauthorized("Authentication required", code="missing_token")
