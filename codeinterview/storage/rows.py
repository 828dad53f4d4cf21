"""Between records and rows: values read back are type-checked, values to write made storable."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import fields
from typing import TypeVar

from codeinterview.storage.base import (
    DocumentState,
    ParticipantRecord,
    SessionRecord,
    SnapshotRecord,
    StorageError,
)

Row = Sequence[object]
T = TypeVar("T")


def _expect(value: object, kind: type[T]) -> T:
    if isinstance(value, kind):
        return value
    raise StorageError(f"expected {kind.__name__} from the database, got {type(value).__name__}")


def _optional(value: object, kind: type[T]) -> T | None:
    return None if value is None else _expect(value, kind)


def _uuid(value: object) -> str:
    # asyncpg hands back UUID objects; SQLite holds the 32 hex digits SQLAlchemy's Uuid stores.
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(uuid.UUID(_expect(value, str)))


def _optional_uuid(value: object) -> str | None:
    return None if value is None else _uuid(value)


def _bool(value: object) -> bool:
    # SQLite has no boolean type and returns 0 or 1.
    return bool(_expect(value, int))


def session_record(row: Row) -> SessionRecord:
    return SessionRecord(
        id=_expect(row[0], str),
        created_at=_expect(row[1], int),
        updated_at=_expect(row[2], int),
        expires_at=_expect(row[3], int),
        code=_expect(row[4], str),
        language=_expect(row[5], str),
        creator_id=_uuid(row[6]),
        candidate_invite=_expect(row[7], str),
        interviewer_invite=_expect(row[8], str),
        ended_at=_optional(row[9], int),
    )


def participant_record(row: Row) -> ParticipantRecord:
    return ParticipantRecord(
        id=_uuid(row[0]),
        session_id=_expect(row[1], str),
        name=_expect(row[2], str),
        role=_expect(row[3], str),
        color=_expect(row[4], str),
        joined_at=_expect(row[5], int),
        is_online=_bool(row[6]),
        removed_at=_optional(row[7], int),
    )


def snapshot_record(row: Row) -> SnapshotRecord:
    return SnapshotRecord(
        id=_expect(row[0], int),
        session_id=_expect(row[1], str),
        label=_optional(row[2], str),
        code=_expect(row[3], str),
        language=_expect(row[4], str),
        created_at=_expect(row[5], int),
        created_by=_optional_uuid(row[6]),
    )


def document_state(row: Row) -> DocumentState:
    return DocumentState(
        session_id=_expect(row[0], str),
        code=_expect(row[1], str),
        language=_expect(row[2], str),
        updated_at=_expect(row[3], int),
        doc_state=_optional(row[4], bytes),
    )


def latest_per_session(states: Sequence[DocumentState]) -> list[DocumentState]:
    """One state per session, the last given: a batched UPDATE must not see an id twice."""
    return list({state.session_id: state for state in states}.values())


def storable_code(code: str) -> str:
    """`code` with NUL characters replaced by U+FFFD.

    PostgreSQL text cannot hold NUL, and one client typing it must not fail a whole
    `save_documents` batch; `doc_state` keeps the exact text. SQLite does the same so the
    backends agree.
    """
    return code.replace("\x00", "\ufffd") if "\x00" in code else code


def values_of(record: SessionRecord | ParticipantRecord) -> dict[str, object]:
    """A record as named query values: its field names are the column names."""
    values = {field.name: getattr(record, field.name) for field in fields(record)}
    if isinstance(record, SessionRecord):
        values["code"] = storable_code(record.code)
    return values
