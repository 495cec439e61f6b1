"""api key rate limits

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 21:50:28.544935
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing keys get the documented defaults: 60 a minute, 10,000 a day.
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("per_minute", sa.Integer(), nullable=False, server_default="60")
        )
        batch_op.add_column(
            sa.Column("per_day", sa.Integer(), nullable=False, server_default="10000")
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("per_day")
        batch_op.drop_column("per_minute")
