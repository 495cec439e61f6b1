"""PostgreSQL row-level security, the defence under the application's tenant filter.

These run on PostgreSQL only (row security is a PostgreSQL feature; on SQLite the guard of
``test_isolation.py`` is the one line). Every tenant table is discovered from the models.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Select, bindparam, func, select, text
from sqlalchemy.exc import ProgrammingError
from sqlmodel import col

from asteri.authz.isolation import organization_wide, tenant_tables
from asteri.kit.db import Database
from asteri.kit.row_security import APP_ROLE
from asteri.models import Customer
from tests.conftest import _backends
from tests.factories import Api, create_customer, org_pk

ROOT = Path(__file__).parents[1]
TABLES = sorted(tenant_tables(), key=lambda t: t.name)

pytestmark = pytest.mark.parametrize(
    "database_url", [b for b in _backends() if b == "postgresql"], indirect=True
)


def _unguarded(api: Api) -> Database:
    """The request path's database minus the application's guard: row security alone."""
    return Database(api.settings.database_url, guard=None, role=api.settings.database_role)


# No tenant filter: row security alone decides what it sees.
_CUSTOMER_ORGS = cast(Select[Any], select(col(Customer.organization_id), col(Customer.environment)))


def _tenant(org: int | None, environment: str = "live") -> dict[str, Any]:
    return {} if org is None else {"tenant_org": org, "tenant_env": environment}


@pytest.mark.parametrize("table", TABLES, ids=[t.name for t in TABLES])
def test_every_tenant_table_has_forced_row_security(api: Api, table: Any) -> None:
    with api.engine.connect() as connection:
        enabled, forced = connection.execute(
            text("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = :t"),
            {"t": table.name},
        ).one()
        policy = connection.scalar(
            text(
                "SELECT qual FROM pg_policies WHERE tablename = :t "
                "AND policyname = 'tenant_isolation'"
            ),
            {"t": table.name},
        )
    assert (enabled, forced) == (True, True)
    assert policy is not None
    assert "asteri_tenant_org()" in policy
    assert ("asteri_tenant_env()" in policy) is not organization_wide(table)


def test_requests_run_as_a_role_that_cannot_bypass_row_security(api: Api) -> None:
    with api.engine.connect() as connection:
        superuser, bypass = connection.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"),
            {"r": APP_ROLE},
        ).one()
        owned = connection.scalar(
            text("SELECT count(*) FROM pg_tables WHERE tableowner = :r"), {"r": APP_ROLE}
        )
    assert (superuser, bypass, owned) == (False, False, 0)

    async def run() -> tuple[Any, Any]:
        database = _unguarded(api)
        try:
            on_pool = await database.rows.one(select(func.current_user().label("u")), {})
            async with database.session(None) as session:
                in_session = await session.scalar(select(func.current_user()))
            assert on_pool is not None
            return on_pool.u, in_session
        finally:
            await database.dispose()

    assert asyncio.run(run()) == (APP_ROLE, APP_ROLE)


def test_a_statement_without_the_filter_sees_only_its_tenant(api: Api) -> None:
    a, b = api.key(), api.key()
    create_customer(api, a)
    create_customer(api, b)
    a_pk, b_pk = org_pk(api.engine, a.organization_id), org_pk(api.engine, b.organization_id)

    async def run() -> list[set[Any]]:
        database = _unguarded(api)
        try:
            out = []
            for params in (_tenant(a_pk), _tenant(b_pk), _tenant(a_pk, "test"), _tenant(None)):
                out.append(set(await database.rows.all(_CUSTOMER_ORGS, params)))
            return out
        finally:
            await database.dispose()

    assert asyncio.run(run()) == [{(a_pk, "live")}, {(b_pk, "live")}, set(), set()]


def test_writes_are_held_to_the_tenant_too(api: Api) -> None:
    """An UPDATE of another tenant's rows changes nothing; an INSERT into it is refused."""
    a, b = api.key(), api.key()
    victim = create_customer(api, b, company="Untouched")
    a_pk, b_pk = org_pk(api.engine, a.organization_id), org_pk(api.engine, b.organization_id)
    table = Customer.__table__  # type: ignore[attr-defined]

    async def run() -> int:
        database = _unguarded(api)
        try:
            async with database.session(_tenant(a_pk)) as session:
                changed = await session.execute(
                    table.update().where(table.c.public_id == victim["id"]).values(company="X")
                )
                await session.commit()
            async with database.session(_tenant(a_pk)) as session:
                with pytest.raises(ProgrammingError, match="row-level security"):
                    await session.execute(
                        table.insert().values(
                            public_id="cus_rls_probe",
                            organization_id=b_pk,
                            environment="live",
                            display_name="Planted",
                            search_text="planted",
                            emails=[],
                            phones=[],
                            addresses=[],
                            tags=[],
                        )
                    )
            return int(changed.rowcount)  # type: ignore[attr-defined]
        finally:
            await database.dispose()

    assert asyncio.run(run()) == 0
    got = api.gql("query($id: ID!) { customer(id: $id) { company } }", {"id": victim["id"]}, as_=b)
    assert got["customer"]["company"] == "Untouched"


def test_pooled_connections_carry_no_tenant_between_transactions(api: Api) -> None:
    """Thousands of reads on the pool, alternating tenants (and no tenant at all), many at a
    time: each sees exactly its own tenant's rows, never the previous transaction's."""
    a, b = api.key(), api.key()
    a_test = api.key(org=a.organization_id, environment="test")
    for cred in (a, b, a_test):
        create_customer(api, cred)
    a_pk, b_pk = org_pk(api.engine, a.organization_id), org_pk(api.engine, b.organization_id)
    cases = [
        (_tenant(a_pk), {(a_pk, "live")}),
        (_tenant(b_pk), {(b_pk, "live")}),
        (_tenant(None), set()),
        (_tenant(a_pk, "test"), {(a_pk, "test")}),
    ]
    rounds = 3_000

    async def run() -> int:
        database = _unguarded(api)
        wrong = 0

        async def one(i: int) -> None:
            nonlocal wrong
            params, expected = cases[i % len(cases)]
            if set(await database.rows.all(_CUSTOMER_ORGS, params)) != expected:
                wrong += 1

        try:
            for start in range(0, rounds, 100):  # 100 in flight at a time over the pool
                await asyncio.gather(*(one(i) for i in range(start, start + 100)))
            # Write sessions too: each transaction starts from its own settings.
            for i in range(200):
                params, expected = cases[i % len(cases)]
                async with database.session(params) as session:
                    seen = {tuple(r) for r in (await session.execute(_CUSTOMER_ORGS)).all()}
                    wrong += seen != expected
            return wrong
        finally:
            await database.dispose()

    assert asyncio.run(run()) == 0


def test_the_key_lookup_sees_one_key_only_by_its_digest(api: Api) -> None:
    """The policy behind the key lookup reveals a key to whoever presents its secret's digest,
    and nothing to anyone else."""
    api.key()
    from asteri.models import ApiKey

    keys = ApiKey.__table__  # type: ignore[attr-defined]
    by_digest = select(keys.c.public_id).where(keys.c.secret_hash == bindparam("key_digest"))

    async def run() -> tuple[int, int]:
        database = _unguarded(api)
        try:
            everything = await database.rows.all(select(keys.c.public_id), {})
            wrong = await database.rows.all(by_digest, {"key_digest": "0" * 64})
            return len(everything), len(wrong)
        finally:
            await database.dispose()

    assert asyncio.run(run()) == (0, 0)


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_with_the_app_filter_off_row_security_alone_keeps_tenants_apart(api: Api) -> None:
    """The cross-tenant matrix, run with ``ASTERI_TENANT_FILTER=false``: its statements carry
    no tenant terms and nothing guards them. On PostgreSQL it still passes (row security); on
    SQLite, which has none, the very same matrix fails, so it does detect a leak."""
    off = {"ASTERI_TENANT_FILTER": "false"}
    printed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from asteri.authz.tenancy import scoped; from asteri.models import Customer; "
            "print(scoped(Customer))",
        ],
        cwd=ROOT,
        env={**os.environ, **off},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "customers.organization_id =" not in printed
    assert "customers.environment =" not in printed

    postgresql = _pytest("tests/test_tenancy.py", ASTERI_TEST_BACKENDS="postgresql", **off)
    assert postgresql.returncode == 0, postgresql.stdout[-3000:]
    assert " passed" in postgresql.stdout
    assert "failed" not in postgresql.stdout

    sqlite = _pytest("tests/test_tenancy.py", ASTERI_TEST_BACKENDS="sqlite", **off)
    assert sqlite.returncode == 1, sqlite.stdout[-3000:]
    assert "test_other_organization_sees_a_404" in sqlite.stdout
