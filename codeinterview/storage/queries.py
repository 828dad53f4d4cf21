"""The SQL of every `Store` operation, written once in SQLAlchemy Core and compiled per dialect.

Each builder returns a statement whose values are named `bindparam`s, so its text depends on
the dialect alone: it is compiled once per backend and reused for every call (asyncpg then
also reuses its prepared statement). Columns are selected in the order of the record
dataclasses' fields, which `rows.py` relies on. The statements are only ever compiled, never
executed through SQLAlchemy, so builders are typed as plain `ClauseElement`s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from codeinterview.storage.schema import participants, sessions, snapshots

SESSION_COLUMNS = (
    sessions.c.id,
    sessions.c.created_at,
    sessions.c.updated_at,
    sessions.c.expires_at,
    sessions.c.code,
    sessions.c.language,
    sessions.c.creator_id,
    sessions.c.candidate_invite,
    sessions.c.interviewer_invite,
    sessions.c.ended_at,
)
PARTICIPANT_COLUMNS = (
    participants.c.id,
    participants.c.session_id,
    participants.c.name,
    participants.c.role,
    participants.c.color,
    participants.c.joined_at,
    participants.c.is_online,
    participants.c.removed_at,
)
SNAPSHOT_COLUMNS = tuple(snapshots.c)
# Snapshot ids are 32-bit on PostgreSQL; a larger one cannot name a snapshot anywhere.
SNAPSHOT_ID_MAX = 2**31 - 1
DOCUMENT_COLUMNS = (
    sessions.c.id,
    sessions.c.code,
    sessions.c.language,
    sessions.c.updated_at,
    sessions.c.doc_state,
)


def _binds(columns: tuple[sa.Column[object], ...]) -> dict[str, object]:
    return {column.key: sa.bindparam(column.key, type_=column.type) for column in columns}


def _is_participant() -> sa.ColumnElement[bool]:
    return sa.and_(
        participants.c.session_id == sa.bindparam("session_id"),
        participants.c.id == sa.bindparam("participant_id"),
    )


def _insert_session() -> sa.Insert:
    return sa.insert(sessions).values(_binds(SESSION_COLUMNS))


def insert_session() -> ClauseElement:
    return _insert_session()


def insert_session_with_creator() -> ClauseElement:
    """Session and creator in one PostgreSQL statement: atomic, and one round trip.

    The creator's values are named ``participant_<column>``; its session id comes from
    the inserted session row.
    """
    new_session = _insert_session().returning(sessions.c.id).cte("new_session")
    columns = [column for column in PARTICIPANT_COLUMNS if column.key != "session_id"]
    creator = sa.select(
        *(sa.bindparam(f"participant_{column.key}", type_=column.type) for column in columns),
        new_session.c.id,
    )
    return sa.insert(participants).from_select([*(column.key for column in columns), "session_id"], creator)


def select_session() -> ClauseElement:
    return sa.select(*SESSION_COLUMNS).where(sessions.c.id == sa.bindparam("session_id"))


def end_session() -> ClauseElement:
    return (
        sa.update(sessions)
        .where(sessions.c.id == sa.bindparam("session_id"))
        .values(ended_at=sa.bindparam("ended_at", type_=sa.BigInteger))
    )


def insert_participant() -> ClauseElement:
    return sa.insert(participants).values(_binds(PARTICIPANT_COLUMNS))


def select_participant() -> ClauseElement:
    return sa.select(*PARTICIPANT_COLUMNS).where(_is_participant())


def list_participants() -> ClauseElement:
    return (
        sa.select(*PARTICIPANT_COLUMNS)
        .where(participants.c.session_id == sa.bindparam("session_id"))
        .where(participants.c.removed_at.is_(None))
        .order_by(participants.c.joined_at, participants.c.id)
    )


def update_participant() -> ClauseElement:
    """A NULL `name` or `color` keeps the current value, so one statement serves every call."""
    return (
        sa.update(participants)
        .where(_is_participant(), participants.c.removed_at.is_(None))
        .values(
            name=sa.func.coalesce(sa.bindparam("name", type_=sa.String), participants.c.name),
            color=sa.func.coalesce(sa.bindparam("color", type_=sa.String), participants.c.color),
        )
        .returning(*PARTICIPANT_COLUMNS)
    )


def remove_participant() -> ClauseElement:
    return (
        sa.update(participants)
        .where(_is_participant(), participants.c.removed_at.is_(None))
        .values(removed_at=sa.bindparam("removed_at", type_=sa.BigInteger), is_online=False)
    )


def set_online() -> ClauseElement:
    return (
        sa.update(participants)
        .where(_is_participant())
        .values(is_online=sa.bindparam("online", type_=sa.Boolean))
    )


def reset_online() -> ClauseElement:
    return sa.update(participants).where(participants.c.is_online).values(is_online=False)


def select_document() -> ClauseElement:
    return sa.select(*DOCUMENT_COLUMNS).where(sessions.c.id == sa.bindparam("session_id"))


def update_document() -> ClauseElement:
    """One session's write-back; SQLite runs it with `executemany` inside one transaction."""
    return (
        sa.update(sessions)
        .where(sessions.c.id == sa.bindparam("session_id"))
        .values(_binds(DOCUMENT_COLUMNS[1:]))
    )


def update_documents_unnest() -> ClauseElement:
    """A whole batch as one PostgreSQL statement: one array per column, zipped by `unnest`.

    Ids with no row (sessions deleted since) simply match nothing.
    """
    batch = (
        sa.func.unnest(
            *(sa.bindparam(f"{column.key}_list", type_=ARRAY(column.type)) for column in DOCUMENT_COLUMNS)
        )
        .table_valued(*(sa.column(column.key, column.type) for column in DOCUMENT_COLUMNS))
        .render_derived(name="v")
    )
    return (
        sa.update(sessions)
        .where(sessions.c.id == batch.c.id)
        .values({column.key: batch.c[column.key] for column in DOCUMENT_COLUMNS[1:]})
    )


def select_document_state() -> ClauseElement:
    """One session's stored CRDT state, read inside the transaction that merges into it."""
    return sa.select(sessions.c.id, sessions.c.doc_state).where(sessions.c.id == sa.bindparam("session_id"))


def lock_document_states() -> ClauseElement:
    """Several sessions' stored CRDT states, locked (in id order, so nodes never deadlock)."""
    ids = sa.bindparam("id_list", type_=ARRAY(sessions.c.id.type))
    return (
        sa.select(sessions.c.id, sessions.c.doc_state)
        .where(sessions.c.id == sa.func.any(ids))
        .order_by(sessions.c.id)
        .with_for_update()
    )


def insert_snapshot() -> ClauseElement:
    return sa.insert(snapshots).values(_binds(SNAPSHOT_COLUMNS[1:])).returning(*SNAPSHOT_COLUMNS)


def list_snapshots() -> ClauseElement:
    return (
        sa.select(*SNAPSHOT_COLUMNS)
        .where(snapshots.c.session_id == sa.bindparam("session_id"))
        .order_by(snapshots.c.created_at, snapshots.c.id)
    )


def select_snapshot() -> ClauseElement:
    return sa.select(*SNAPSHOT_COLUMNS).where(
        snapshots.c.session_id == sa.bindparam("session_id"),
        snapshots.c.id == sa.bindparam("snapshot_id", type_=sa.Integer),
    )


def delete_expired() -> ClauseElement:
    # Participants and snapshots go with their session through ON DELETE CASCADE.
    return sa.delete(sessions).where(
        sessions.c.expires_at < sa.bindparam("expired_before", type_=sa.BigInteger)
    )


def ping() -> ClauseElement:
    return sa.select(sa.literal_column("1"))


UuidEncoder = Callable[[str], object]


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A statement's SQL text in one dialect's paramstyle, and how to order its values."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, object]
    uuid_names: frozenset[str]
    encode_uuid: UuidEncoder | None = None

    def params(self, values: Mapping[str, object]) -> tuple[object, ...]:
        """Positional parameters from named values (values baked into the statement fill gaps)."""
        merged = {**self.defaults, **values}
        return tuple(self._encode(name, merged[name]) for name in self.names)

    def _encode(self, name: str, value: object) -> object:
        # The driver is called directly, so the Uuid type's own conversion never runs.
        if self.encode_uuid is not None and value is not None and name in self.uuid_names:
            return self.encode_uuid(str(value))
        return value


def compile_statement(
    statement: ClauseElement, dialect: Dialect, *, encode_uuid: UuidEncoder | None = None
) -> CompiledQuery:
    """Compile for `dialect`: qmark `?` for pysqlite, numeric `$1` (with casts) for asyncpg."""
    compiled = statement.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):
        raise TypeError(f"not a SQL statement: {statement!r}")
    names = tuple(compiled.positiontup or ())
    binds = compiled.bind_names  # every bind parameter, with the name it was rendered under
    uuid_names = frozenset(name for bind, name in binds.items() if isinstance(bind.type, sa.Uuid))
    # A bind carrying its own value (a literal in `.values(...)`) needs none from the caller.
    params = compiled.params
    defaults = {name: params[name] for bind, name in binds.items() if not bind.required}
    return CompiledQuery(compiled.string, names, defaults, uuid_names, encode_uuid)


class QueryCache:
    """Every builder above, compiled at most once for one dialect."""

    def __init__(self, dialect: Dialect, *, encode_uuid: UuidEncoder | None = None) -> None:
        self._dialect = dialect
        self._encode_uuid = encode_uuid
        self._compiled: dict[Callable[[], ClauseElement], CompiledQuery] = {}

    def __call__(
        self, build: Callable[[], ClauseElement], **values: object
    ) -> tuple[str, tuple[object, ...]]:
        """The SQL text and positional parameters for one call of `build`'s statement."""
        query = self.get(build)
        return query.sql, query.params(values)

    def get(self, build: Callable[[], ClauseElement]) -> CompiledQuery:
        query = self._compiled.get(build)
        if query is None:
            query = compile_statement(build(), self._dialect, encode_uuid=self._encode_uuid)
            self._compiled[build] = query
        return query
