"""document numbers

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 06:53:02.453133

Per-tenant counters for document numbers (a tenant table with row security on PostgreSQL),
and each organization's number prefixes, ``EST`` and ``INV`` to begin with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from asteri.migrations.row_security import tenant_policy

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_counters",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("organization_id", "environment", "kind"),
    )
    if op.get_bind().dialect.name == "postgresql":
        tenant_policy("document_counters")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        for column, prefix in (("estimate_prefix", "EST"), ("invoice_prefix", "INV")):
            batch_op.add_column(
                sa.Column(
                    column,
                    sqlmodel.sql.sqltypes.AutoString(length=12),
                    nullable=False,
                    server_default=prefix,
                )
            )


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("invoice_prefix")
        batch_op.drop_column("estimate_prefix")
    op.drop_table("document_counters")
