"""estimates

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 06:59:08.858809

Estimates (a tenant table with row security on PostgreSQL): numbered per tenant, priced line
items as JSON, stored totals, and their approval.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import asteri.kit.db
from asteri.migrations.row_security import tenant_policy

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "estimates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("updated_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("appointment_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("tax_rate_bps", sa.Integer(), nullable=False),
        sa.Column(
            "line_items",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("subtotal", sa.Integer(), nullable=False),
        sa.Column("discount_total", sa.Integer(), nullable=False),
        sa.Column("tax_total", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("sent_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("approved_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "approval",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("declined_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("expired_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.public_id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.public_id"],
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organization_id", "environment", "number", name="uq_estimates_number"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("estimates", schema=None) as batch_op:
        batch_op.create_index("ix_estimates_expiry", ["status", "valid_until"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_estimates_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "ix_estimates_tenant_created",
            ["organization_id", "environment", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_estimates_tenant_customer",
            ["organization_id", "environment", "customer_id"],
            unique=False,
        )

    if op.get_bind().dialect.name == "postgresql":
        tenant_policy("estimates")


def downgrade() -> None:
    with op.batch_alter_table("estimates", schema=None) as batch_op:
        batch_op.drop_index("ix_estimates_tenant_customer")
        batch_op.drop_index("ix_estimates_tenant_created")
        batch_op.drop_index(batch_op.f("ix_estimates_organization_id"))
        batch_op.drop_index("ix_estimates_expiry")

    op.drop_table("estimates")
