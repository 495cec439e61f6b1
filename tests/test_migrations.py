"""The migrations build exactly the schema the models describe, on each backend."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import asteri.models  # noqa: F401
from asteri.authz.isolation import tenant_tables


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_every_tenant_table_carries_organization_and_environment(engine: Engine) -> None:
    """Discovered from the models (``authz.isolation.tenant_tables``), checked in the database
    the migrations built."""
    inspector = inspect(engine)
    assert len(tenant_tables()) >= 8
    for table in tenant_tables():
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert {"organization_id", "environment"} <= columns, table.name
