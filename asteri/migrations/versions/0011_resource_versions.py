"""resource versions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 16:20:00.000000

Every resource row counts its changes in ``version`` (its ETag, and what ``If-Match`` and
``expectedVersion`` compare with). Existing rows start at 1, as new ones do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("customers", "team_members", "services", "appointments")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("version", sa.Integer(), nullable=False, server_default="1")
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("version")
