"""log indexes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 06:26:49.274786

The logs (``GET /events``, ``/audit_events``, ``/webhook_attempts``) list a tenant's rows
newest first: one index each on (organization, environment, time), so a page reads only its
rows.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("audit_entries", "ix_audit_tenant_occurred", "occurred_at"),
    ("events", "ix_events_tenant_occurred", "occurred_at"),
    ("webhook_attempts", "ix_webhook_attempts_tenant_attempted", "attempted_at"),
)


def upgrade() -> None:
    for table, name, column in _INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, ["organization_id", "environment", column], unique=False)


def downgrade() -> None:
    for table, name, _column in reversed(_INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
