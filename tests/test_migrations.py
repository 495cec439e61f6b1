"""The migrations build exactly the schema the models describe, on each backend."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import asteri.models  # noqa: F401


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_every_tenant_table_carries_organization_and_environment(engine: Engine) -> None:
    inspector = inspect(engine)
    tenant_tables = {
        "customers",
        "customer_tags",
        "team_members",
        "services",
        "audit_entries",
        "events",
        "api_keys",
    }
    for table in tenant_tables:
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert {"organization_id", "environment"} <= columns, table
