"""Sessions, participants and snapshots.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is a frozen record: it spells out its tables instead of importing
# `schema.metadata`, which will keep changing after this revision. `op.f` marks each name
# as final, so the metadata's naming convention is not applied to it a second time.
_UUID = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(8), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.CheckConstraint("language IN ('javascript', 'python', 'html')", name=op.f("ck_sessions_language")),
    )
    op.create_index(op.f("idx_sessions_expires_at"), "sessions", ["expires_at"])

    op.create_table(
        "participants",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("session_id", sa.String(8), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("color", sa.String(50), nullable=False),
        sa.Column("joined_at", sa.BigInteger, nullable=False),
        sa.Column("is_online", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("removed_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("session_id", "id", name=op.f("pk_participants")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_participants_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("role IN ('interviewer', 'candidate')", name=op.f("ck_participants_role")),
    )
    op.create_index(op.f("idx_participants_session_id"), "participants", ["session_id"])

    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(8), nullable=False),
        sa.Column("label", sa.String(255), nullable=True),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("language", sa.String(20), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", _UUID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_snapshots_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("idx_snapshots_session_id"), "snapshots", ["session_id"])


def downgrade() -> None:
    op.drop_table("snapshots")
    op.drop_table("participants")
    op.drop_table("sessions")
