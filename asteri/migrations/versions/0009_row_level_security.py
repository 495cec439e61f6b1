"""row level security (PostgreSQL)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:50:00

The request path's role (``asteri_app``: owns nothing, not a superuser, no BYPASSRLS), its
grants, and ENABLE + FORCE ROW LEVEL SECURITY with a tenant policy on every tenant table
(``asteri/kit/row_security.py`` explains the settings). A later migration that adds a tenant
table calls ``asteri.migrations.row_security.tenant_policy`` for it; a test fails for a tenant
table without one. SQLite has no
row security: there the application's guard is the one line of defence.
"""

from collections.abc import Sequence

from alembic import op

from asteri.migrations.row_security import ROLE, tenant_policy

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tenant tables at this revision, and whether their rows belong to the whole organization.
TABLES = {
    "customers": False,
    "customer_tags": False,
    "services": False,
    "team_members": False,
    "audit_entries": False,
    "events": False,
    "idempotency_keys": False,
    "api_keys": True,
}

_FUNCTIONS = """
CREATE OR REPLACE FUNCTION asteri_tenant_org() RETURNS bigint LANGUAGE sql STABLE AS
  $$ SELECT NULLIF(current_setting('asteri.tenant_org', true), '')::bigint $$;
CREATE OR REPLACE FUNCTION asteri_tenant_env() RETURNS text LANGUAGE sql STABLE AS
  $$ SELECT NULLIF(current_setting('asteri.tenant_env', true), '') $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Roles are cluster-wide: another database may be creating it at this very moment.
    op.execute(
        f"""DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
            CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$"""
    )
    op.execute(_FUNCTIONS)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {ROLE}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {ROLE}"
    )
    for table, organization_wide in TABLES.items():
        tenant_policy(table, organization_wide=organization_wide)
    # Authentication reads a key by the digest of its secret, before any tenant is known; a
    # verified session's person reads their own memberships (authz/isolation.py, Exemption).
    op.execute(
        "CREATE POLICY key_lookup ON api_keys FOR SELECT "
        "USING (secret_hash = current_setting('asteri.key_digest', true))"
    )
    op.execute(
        "CREATE POLICY membership_lookup ON team_members FOR SELECT "
        "USING (email = current_setting('asteri.member_email', true))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP POLICY IF EXISTS key_lookup ON api_keys")
    op.execute("DROP POLICY IF EXISTS membership_lookup ON team_members")
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ROLE}")
    op.execute("DROP FUNCTION IF EXISTS asteri_tenant_org()")
    op.execute("DROP FUNCTION IF EXISTS asteri_tenant_env()")
    # The role stays: it is cluster-wide and other databases may use it.
