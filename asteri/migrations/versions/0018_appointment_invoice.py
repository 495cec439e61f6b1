"""appointment invoice

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 10:20:00.000000

An appointment names the draft invoice its completion made (``complete`` with
``draft_invoice``): a plain id, as an estimate's ``invoice_id``, since invoices already refer
to appointments by key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invoice_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_column("invoice_id")
