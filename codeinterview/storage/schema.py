"""The tables, in SQLAlchemy Core: the single description both backends and the migrations share."""

from __future__ import annotations

import sqlalchemy as sa

LANGUAGES = ("javascript", "python", "html")
ROLES = ("interviewer", "candidate")

# Fixed names let migrations and error handling refer to a constraint by name
# (a unique violation on `pk_sessions` means "pick another session id").
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _one_of(column: str, allowed: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in allowed)})"


# Stored as canonical strings: every caller already speaks in `str` ids.
_UUID = sa.Uuid(as_uuid=False)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(8), primary_key=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("code", sa.Text, nullable=False, server_default=""),
    sa.Column("language", sa.String(20), nullable=False, server_default="javascript"),
    sa.Column("creator_id", _UUID, nullable=False),
    sa.Column("candidate_invite", sa.String(64), nullable=False),
    sa.Column("interviewer_invite", sa.String(64), nullable=False),
    sa.Column("ended_at", sa.BigInteger, nullable=True),
    sa.Column("doc_state", sa.LargeBinary, nullable=True),
    sa.CheckConstraint(_one_of("language", LANGUAGES), name="language"),
    sa.Index("idx_sessions_expires_at", "expires_at"),
)

# The key is (session_id, id) because a client-chosen user id may take part in many sessions.
participants = sa.Table(
    "participants",
    metadata,
    sa.Column("id", _UUID, nullable=False),
    sa.Column(
        "session_id",
        sa.String(8),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("color", sa.String(50), nullable=False),
    sa.Column("joined_at", sa.BigInteger, nullable=False),
    sa.Column("is_online", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("removed_at", sa.BigInteger, nullable=True),
    sa.PrimaryKeyConstraint("session_id", "id"),
    sa.CheckConstraint(_one_of("role", ROLES), name="role"),
    sa.Index("idx_participants_session_id", "session_id"),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "session_id",
        sa.String(8),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("label", sa.String(255), nullable=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("language", sa.String(20), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", _UUID, nullable=True),
    sa.Index("idx_snapshots_session_id", "session_id"),
    # Without AUTOINCREMENT SQLite may hand a deleted snapshot's id to a new one;
    # PostgreSQL's sequence never does, and the two backends should agree.
    sqlite_autoincrement=True,
)
