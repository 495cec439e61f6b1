"""A resolver that forgets the tenant filter cannot run: the proof, on every read API.

Each leaky resolver below reads rows of another organization the way a careless resolver
would, through one of the read APIs the code offers (the read path's ``rows``, reads inside a
write, the ORM session, Core on the session's connection, raw SQL) and in each shape a filter
can go missing in (no filter, a second tenant table joined, a subquery, a filter under ``OR``
or compared with a literal). Every one is refused before it runs, for every tenant table
(discovered from the models), on both backends. The control shows the same resolver leaks
on a database without the guard, so the refusal is what stands between them.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import strawberry
from sqlalchemy import Table, bindparam, exists, inspect, literal, or_, select, text
from sqlmodel import SQLModel
from strawberry.types import Info

import asteri
from asteri.authz.isolation import (
    Exemption,
    StatementGuard,
    TenantFilterMissing,
    check_statement,
    exempt,
    organization_wide,
    tenant_tables,
)
from asteri.authz.principal import ActorType, Principal
from asteri.authz.scopes import Scope
from asteri.authz.tenancy import scoped, tenant
from asteri.kit.db import Database, RequestStore
from asteri.kit.rows import SessionRows
from asteri.models import Customer, Environment, Service
from asteri.resolvers.unit import UnitOfWork
from asteri.schema.compiled import compile_read
from asteri.schema.context import RequestContext
from asteri.schema.fields import query
from asteri.schema.persisted import Registry
from tests.factories import Api, create_service, org_pk

TABLES = sorted(tenant_tables(), key=lambda t: t.name)
Leak = Callable[[UnitOfWork, Table], Awaitable[Any]]


def _unfiltered(table: Table) -> Any:
    return select(table.c.organization_id)


async def rows_one(uow: UnitOfWork, table: Table) -> Any:
    return await uow.rows.one(_unfiltered(table), {})


async def rows_all(uow: UnitOfWork, table: Table) -> Any:
    return await uow.rows.all(_unfiltered(table), {})


async def rows_inside_a_write(uow: UnitOfWork, table: Table) -> Any:
    return await SessionRows(uow.session).all(_unfiltered(table), {})


async def orm_execute(uow: UnitOfWork, table: Table) -> Any:
    return (await uow.session.execute(_unfiltered(table))).all()


async def orm_entity(uow: UnitOfWork, table: Table) -> Any:
    return (await uow.session.scalars(select(Service))).all()


async def orm_get_by_primary_key(uow: UnitOfWork, table: Table) -> Any:
    return await uow.session.get(Service, 1)


async def core_on_the_connection(uow: UnitOfWork, table: Table) -> Any:
    connection = await uow.session.connection()
    return (await connection.execute(table.select())).all()


async def raw_sql(uow: UnitOfWork, table: Table) -> Any:
    return (await uow.session.execute(text(f"SELECT * FROM {table.name}"))).all()  # noqa: S608


async def driver_sql(uow: UnitOfWork, table: Table) -> Any:
    connection = await uow.session.connection()
    return (await connection.exec_driver_sql(f"SELECT * FROM {table.name}")).all()  # noqa: S608


def _outer(table: Table) -> type[SQLModel]:
    """A properly filtered read of another tenant table, to hide the leak in."""
    return Service if table.name == "customers" else Customer


async def joined_without_filter(uow: UnitOfWork, table: Table) -> Any:
    """The caller's rows, joined to another tenant table that has no filter of its own."""
    outer = _outer(table)
    on = table.c.organization_id != outer.__table__.c.organization_id  # type: ignore[attr-defined]
    return await uow.rows.all(scoped(outer).join(table, on), tenant(uow.principal))


async def exists_without_filter(uow: UnitOfWork, table: Table) -> Any:
    statement = scoped(_outer(table)).where(exists(_unfiltered(table)))
    return await uow.rows.all(statement, tenant(uow.principal))


async def from_subquery_without_filter(uow: UnitOfWork, table: Table) -> Any:
    return await uow.rows.all(select(_unfiltered(table).subquery()), {})


async def filter_under_or(uow: UnitOfWork, table: Table) -> Any:
    statement = _unfiltered(table).where(
        or_(table.c.organization_id == bindparam("tenant_org"), literal(True)),
        table.c.environment == bindparam("tenant_env"),
    )
    return await uow.rows.all(statement, tenant(uow.principal))


async def filter_by_a_literal(uow: UnitOfWork, table: Table) -> Any:
    """A hand-written filter names an organization: only the tenant's bind parameter counts."""
    statement = _unfiltered(table).where(
        table.c.organization_id == 1, table.c.environment == "live"
    )
    return await uow.rows.all(statement, {})


LEAKS: list[Leak] = [
    rows_one,
    rows_all,
    rows_inside_a_write,
    orm_execute,
    orm_entity,
    orm_get_by_primary_key,
    core_on_the_connection,
    raw_sql,
    driver_sql,
    joined_without_filter,
    exists_without_filter,
    from_subquery_without_filter,
    filter_under_or,
    filter_by_a_literal,
]


def _principal(api: Api, organization_id: str) -> Principal:
    return Principal(
        organization_pk=org_pk(api.engine, organization_id),
        organization_id=organization_id,
        environment=Environment.LIVE,
        scopes=frozenset(Scope),
        actor_type=ActorType.API_KEY,
        actor_id="key_isolation_test",
    )


async def _run(database: Database, principal: Principal, leak: Leak, table: Table) -> Any:
    store = RequestStore(database)
    try:
        return await leak(UnitOfWork(store, principal, "req-isolation"), table)
    finally:
        await store.close()
        await database.dispose()


@pytest.mark.parametrize("table", TABLES, ids=[t.name for t in TABLES])
@pytest.mark.parametrize("leak", LEAKS, ids=[leak.__name__ for leak in LEAKS])
def test_a_leaky_resolver_is_refused(api: Api, leak: Leak, table: Table) -> None:
    victim = api.key()
    create_service(api, as_=victim)
    principal = _principal(api, api.key().organization_id)
    database = Database(api.settings.database_url, guard=StatementGuard())
    with pytest.raises(TenantFilterMissing):
        asyncio.run(_run(database, principal, leak, table))


def test_the_app_serves_requests_through_the_guarded_database(api: Api) -> None:
    """Not only this module's harness: the database the running app uses refuses the leak."""
    principal = _principal(api, api.key().organization_id)
    database = api.client.app.state.database  # type: ignore[attr-defined]
    table = Service.__table__  # type: ignore[attr-defined]

    async def run() -> Any:
        store = RequestStore(database)
        try:
            return await rows_all(UnitOfWork(store, principal, "req-app"), table)
        finally:
            await store.close()

    with pytest.raises(TenantFilterMissing):
        api.client.portal.call(run)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "leak", [rows_all, orm_execute, raw_sql], ids=["rows_all", "orm_execute", "raw_sql"]
)
def test_without_the_guard_the_same_resolver_leaks(api: Api, leak: Leak) -> None:
    """The control: on a database without the guard (an operator's), the leak is real."""
    victim = api.key()
    create_service(api, as_=victim)
    principal = _principal(api, api.key().organization_id)
    victim_pk = _principal(api, victim.organization_id).organization_pk
    table = Service.__table__  # type: ignore[attr-defined]
    database = Database(api.settings.database_url, guard=None)
    rows = asyncio.run(_run(database, principal, leak, table))
    assert victim_pk in {row.organization_id for row in rows}


_MAPPERS = inspect(Customer).registry.mappers


def test_the_tenant_filter_passes_for_every_tenant_table() -> None:
    for table in TABLES:
        model: type[SQLModel] = next(m.class_ for m in _MAPPERS if m.local_table is table)
        check_statement(scoped(model, every_environment=organization_wide(table)))
        check_statement(scoped(model))


def test_an_organization_wide_table_still_needs_its_organization() -> None:
    (keys,) = [t for t in TABLES if organization_wide(t)]
    assert keys.name == "api_keys"
    with pytest.raises(TenantFilterMissing, match="organization_id"):
        check_statement(select(keys).where(keys.c.environment == bindparam("tenant_env")))


def test_a_correlated_table_is_the_enclosing_selects_to_filter() -> None:
    """An ``EXISTS`` may name the outer table (correlated away); a FROM subquery may not."""
    c = Customer.__table__.c  # type: ignore[attr-defined]
    inner = scoped(Service).where(Service.__table__.c.name == c.display_name)  # type: ignore[attr-defined]
    check_statement(scoped(Customer).where(inner.exists()))
    uncorrelated = inner.correlate(None)
    with pytest.raises(TenantFilterMissing, match="customers"):
        check_statement(scoped(Customer).where(uncorrelated.exists()))


def test_exemptions_are_named_and_each_is_used() -> None:
    """The few reads allowed without the filter: each named, each used by exactly one
    statement, and nothing else passes unfiltered."""
    from asteri.authz.authenticate import _KEY_LOOKUP
    from asteri.authz.isolation import exemption_of
    from asteri.authz.sessions import _MEMBERSHIP

    assert {exemption_of(_KEY_LOOKUP), exemption_of(_MEMBERSHIP)} == set(Exemption)
    package = Path(asteri.__file__).parent
    uses = [
        name
        for path in package.rglob("*.py")
        if path.name != "isolation.py"
        for name in re.findall(r"Exemption\.([A-Z_]+)", path.read_text())
    ]
    assert sorted(uses) == sorted(e.name for e in Exemption)
    check_statement(_KEY_LOOKUP)
    check_statement(_MEMBERSHIP)
    keys = next(t for t in TABLES if t.name == "api_keys")
    check_statement(exempt(select(keys), Exemption.KEY_LOOKUP))
    with pytest.raises(TenantFilterMissing):
        check_statement(select(keys))


@strawberry.type
class LeakedRow:
    organization_id: int


@strawberry.type
class LeakyQueries:
    @query(Scope.READ_SERVICES, description="Every organization's services: a deliberate leak.")
    async def leaked_services(self, info: Info[RequestContext, None]) -> list[LeakedRow]:
        statement = select(Service.organization_id)  # type: ignore[call-overload]
        return list(await info.context.uow.rows.all(statement, {}))


def test_a_leaky_root_field_is_refused_on_both_read_paths(api: Api, tmp_path: Path) -> None:
    """A new root field that forgets the filter, served as a compiled persisted read and by
    strawberry's executor: the guard refuses it on both, and the caller gets no rows."""
    create_service(api, as_=api.key())
    principal = _principal(api, api.key().organization_id)
    schema = strawberry.Schema(query=LeakyQueries)
    (tmp_path / "leak.graphql").write_text("query Leak { leakedServices { organizationId } }")
    (op,) = Registry.load(schema._schema, (), directory=tmp_path)
    compiled = compile_read(schema, op, op.document)
    assert compiled is not None  # really the compiled path

    async def run() -> tuple[BaseException | None, Any]:
        database = Database(api.settings.database_url, guard=StatementGuard())
        store = RequestStore(database)
        context = RequestContext(
            store=store, auth=principal, request_id="req-leak", settings=api.settings
        )
        try:
            try:
                await compiled.run(context, {})
                refused: BaseException | None = None
            except TenantFilterMissing as error:
                refused = error
            executed = await schema.execute(op.source, context_value=context)
            return refused, executed
        finally:
            await store.close()
            await database.dispose()

    refused, executed = asyncio.run(run())
    assert isinstance(refused, TenantFilterMissing)
    assert executed.data is None
    assert executed.errors is not None
    assert isinstance(executed.errors[0].original_error, TenantFilterMissing)


def test_the_filter_off_setting_is_refused_in_production() -> None:
    from pydantic import ValidationError

    from asteri.kit.settings import Settings

    secrets_ = {
        "key_pepper": "p" * 40,
        "session_secret": "s" * 40,
        "webhook_secret_key": "7bS3uRfsQcEB2NExIeWl_Q7XIpy6TsEPgZdag2zmauc=",
    }
    Settings(mode="production", **secrets_)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="ASTERI_TENANT_FILTER"):
        Settings(mode="production", tenant_filter=False, **secrets_)  # type: ignore[arg-type]
