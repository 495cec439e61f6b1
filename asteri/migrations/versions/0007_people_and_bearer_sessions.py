"""people and bearer sessions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 23:58:27.403434
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import asteri.kit.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_table(
        "bearer_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("issued_for", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("expires_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("bearer_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bearer_sessions_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bearer_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bearer_sessions_person_id"))

    op.drop_table("bearer_sessions")
    op.drop_table("people")
