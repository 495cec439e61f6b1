"""invoices

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 07:30:00.000000

Invoices (a tenant table with row security on PostgreSQL): numbered per tenant, priced like
estimates, with payment terms, a due date and the accounting handoff; an estimate names the
invoice it was converted to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import asteri.kit.db
from asteri.migrations.row_security import tenant_policy

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoices",
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
        sa.Column("estimate_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
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
        sa.Column("amount_paid", sa.Integer(), nullable=False),
        sa.Column("payment_terms", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("finalized_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("voided_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column(
            "marked_uncollectible_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("overdue_at", asteri.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("export_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("accounting_system", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column(
            "accounting_external_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
        ),
        sa.Column("export_error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.public_id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.public_id"],
        ),
        sa.ForeignKeyConstraint(
            ["estimate_id"],
            ["estimates.public_id"],
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("estimate_id", name="uq_invoices_estimate"),
        sa.UniqueConstraint("organization_id", "environment", "number", name="uq_invoices_number"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_due", ["status", "due_date"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_invoices_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "ix_invoices_tenant_created",
            ["organization_id", "environment", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_invoices_tenant_customer",
            ["organization_id", "environment", "customer_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_invoices_tenant_export",
            ["organization_id", "environment", "export_status"],
            unique=False,
        )

    with op.batch_alter_table("estimates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invoice_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )

    if op.get_bind().dialect.name == "postgresql":
        tenant_policy("invoices")


def downgrade() -> None:
    with op.batch_alter_table("estimates", schema=None) as batch_op:
        batch_op.drop_column("invoice_id")

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_tenant_export")
        batch_op.drop_index("ix_invoices_tenant_customer")
        batch_op.drop_index("ix_invoices_tenant_created")
        batch_op.drop_index(batch_op.f("ix_invoices_organization_id"))
        batch_op.drop_index("ix_invoices_due")

    op.drop_table("invoices")
