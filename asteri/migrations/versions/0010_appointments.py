"""appointments

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:14:06.851191

Appointments and their assignees, both tenant tables with row security (PostgreSQL).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import asteri.kit.db
from asteri.migrations.row_security import tenant_policy

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("updated_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("scheduled_start", asteri.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("scheduled_end", asteri.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "services",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "assignee_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("completed_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.public_id"],
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appointments_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "ix_appointments_tenant_customer",
            ["organization_id", "environment", "customer_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_appointments_tenant_start",
            ["organization_id", "environment", "scheduled_start"],
            unique=False,
        )

    op.create_table(
        "appointment_assignees",
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("team_member_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_member_id"],
            ["team_members.id"],
        ),
        sa.PrimaryKeyConstraint("appointment_id", "team_member_id"),
    )
    with op.batch_alter_table("appointment_assignees", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appointment_assignees_tenant_member",
            ["organization_id", "environment", "team_member_id"],
            unique=False,
        )

    if op.get_bind().dialect.name == "postgresql":
        tenant_policy("appointments")
        tenant_policy("appointment_assignees")


def downgrade() -> None:
    with op.batch_alter_table("appointment_assignees", schema=None) as batch_op:
        batch_op.drop_index("ix_appointment_assignees_tenant_member")

    op.drop_table("appointment_assignees")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_appointments_tenant_start")
        batch_op.drop_index("ix_appointments_tenant_customer")
        batch_op.drop_index(batch_op.f("ix_appointments_organization_id"))

    op.drop_table("appointments")
