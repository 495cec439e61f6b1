"""Row security for migrations: the policy every tenant table gets (``kit/row_security.py``
says why). A migration that adds a tenant table calls ``tenant_policy`` for it; a test fails
for any tenant table without row security."""

from alembic import op

__all__ = ["ROLE", "tenant_policy"]

# The request path's role: owns no table, not a superuser, cannot bypass row security.
ROLE = "asteri_app"


def tenant_policy(table: str, *, organization_wide: bool = False) -> None:
    """Only the transaction's tenant's rows of ``table``, for reads and writes (PostgreSQL)."""
    condition = "organization_id = asteri_tenant_org()"
    if not organization_wide:
        condition += " AND environment = asteri_tenant_env()"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({condition}) WITH CHECK ({condition})"
    )
