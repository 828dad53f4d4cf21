"""Records with fresh ids: PostgreSQL tests share one database, so nothing may collide."""

from __future__ import annotations

import secrets
import uuid

from codeinterview.storage import ParticipantRecord, SessionRecord, Store

# Far enough ahead that no test's `delete_expired` cutoff reaches it.
FAR_FUTURE_MS = 10**13


def new_session_id() -> str:
    return secrets.token_hex(4)


def new_user_id() -> str:
    return str(uuid.uuid4())


def session_record(
    session_id: str | None = None,
    *,
    creator_id: str | None = None,
    language: str = "javascript",
    expires_at: int = FAR_FUTURE_MS,
) -> SessionRecord:
    return SessionRecord(
        id=session_id or new_session_id(),
        created_at=1_000,
        updated_at=1_000,
        expires_at=expires_at,
        code="",
        language=language,
        creator_id=creator_id or new_user_id(),
        candidate_invite=secrets.token_urlsafe(24),
        interviewer_invite=secrets.token_urlsafe(24),
    )


def participant_record(
    session_id: str,
    participant_id: str | None = None,
    *,
    role: str = "candidate",
    name: str = "Ada",
    joined_at: int = 2_000,
) -> ParticipantRecord:
    return ParticipantRecord(
        id=participant_id or new_user_id(),
        session_id=session_id,
        name=name,
        role=role,
        color="#ff8800",
        joined_at=joined_at,
    )


async def create_session(
    store: Store, *, language: str = "javascript", expires_at: int = FAR_FUTURE_MS
) -> SessionRecord:
    """A stored session whose creator is an interviewer of the same id."""
    session = session_record(language=language, expires_at=expires_at)
    creator = participant_record(
        session.id, session.creator_id, role="interviewer", joined_at=1_000
    )
    await store.create_session(session, creator)
    return session
