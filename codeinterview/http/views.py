"""Records to JSON-ready dicts: the shapes documented by `http/models.py`."""

from __future__ import annotations

from collections.abc import Iterable

from codeinterview.storage.base import DocumentState, ParticipantRecord, SessionRecord, SnapshotRecord

JsonObject = dict[str, object]


def participant_view(participant: ParticipantRecord, online: frozenset[str] = frozenset()) -> JsonObject:
    return {
        "id": participant.id,
        "name": participant.name,
        "role": participant.role,
        "color": participant.color,
        "joined_at": participant.joined_at,
        "is_online": participant.id in online,
    }


def session_view(
    session: SessionRecord,
    document: DocumentState,
    participants: Iterable[ParticipantRecord],
    *,
    online: frozenset[str],
    with_invites: bool,
) -> JsonObject:
    view: JsonObject = {
        "id": session.id,
        "created_at": session.created_at,
        "updated_at": max(session.updated_at, document.updated_at),
        "expires_at": session.expires_at,
        "code": document.code,
        "language": document.language,
        "creator_id": session.creator_id,
        "participants": [participant_view(p, online) for p in participants],
        "ended_at": session.ended_at,
    }
    if with_invites:
        view["invites"] = {
            "candidate": session.candidate_invite,
            "interviewer": session.interviewer_invite,
        }
    return view


def code_view(document: DocumentState) -> JsonObject:
    return {"code": document.code, "language": document.language, "updated_at": document.updated_at}


def snapshot_view(snapshot: SnapshotRecord) -> JsonObject:
    return {
        "id": snapshot.id,
        "session_id": snapshot.session_id,
        "label": snapshot.label,
        "code": snapshot.code,
        "language": snapshot.language,
        "created_at": snapshot.created_at,
        "created_by": snapshot.created_by,
    }
