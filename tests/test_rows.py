"""The read path (``kit/rows.py``) answers exactly what SQLAlchemy answers for the same
statement: same columns, same Python values (aware UTC datetimes, decoded JSON), on both
backends; statements it cannot plan fall back to SQLAlchemy; reads inside a write see it."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlmodel import col

from asteri.authz.isolation import StatementGuard
from asteri.authz.principal import ActorType, Principal
from asteri.authz.tenancy import scoped, tenant
from asteri.kit.db import Database, RequestStore
from asteri.kit.rows import EngineRows, PoolRows
from asteri.models import Customer, Environment, Organization
from tests.factories import Api


def _both(api: Api, statement: Select[Any], params: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The statement through the database's read path and through SQLAlchemy."""

    async def run() -> tuple[list[Any], list[Any]]:
        database = Database(api.settings.database_url, guard=StatementGuard())
        try:
            fast = await database.rows.all(statement, params)
            slow = await EngineRows(database.engine).all(statement, params)
            return fast, slow
        finally:
            await database.dispose()

    return asyncio.run(run())


def _tenant(org_pk: int, **params: Any) -> dict[str, Any]:
    principal = Principal(
        organization_pk=org_pk,
        organization_id="org_unused",
        environment=Environment.LIVE,
        scopes=frozenset(),
        actor_type=ActorType.API_KEY,
        actor_id="key_unused",
    )
    return tenant(principal, **params)


def _customers(api: Api, count: int) -> tuple[int, list[str]]:
    cred = api.key()
    ids = []
    for i in range(count):
        body = {
            "display_name": f"Row {i}",
            "emails": [{"address": f"r{i}@example.com", "label": "work", "primary": True}],
            "addresses": [{"line1": f"{i} Elm St", "postal_code": "78701"}],
            "tags": ["vip"],
        }
        created = api.rest("POST", "/customers", as_=cred, json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    with api.engine.connect() as conn:
        pk = conn.scalar(
            select(col(Organization.id)).where(col(Organization.public_id) == cred.organization_id)
        )
    assert pk is not None
    return pk, ids


def test_rows_equal_sqlalchemy_rows_with_the_same_types(api: Api) -> None:
    org_pk, ids = _customers(api, 3)
    params = _tenant(org_pk)
    statement = scoped(Customer).order_by(col(Customer.created_at).desc())
    fast, slow = _both(api, statement, params)
    assert len(fast) == 3
    assert [tuple(r) for r in fast] == [tuple(r) for r in slow]
    first = fast[0]
    assert first.public_id == ids[-1]  # named fields, as the DTOs read them
    assert first.created_at.tzinfo is not None
    assert first.created_at.utcoffset() == timedelta(0)
    assert first.emails == [{"address": "r2@example.com", "label": "work", "primary": True}]


def test_parameters_of_every_kind_bind_the_same(api: Api) -> None:
    """Anonymous binds (a limit, a compared datetime) and named ones, one compiled shape reused
    with different values."""
    org_pk, _ids = _customers(api, 2)
    since = datetime.now(UTC) - timedelta(hours=1)
    for limit in (1, 2):
        statement = (
            scoped(Customer)
            .where(col(Customer.updated_at) >= since)
            .order_by(col(Customer.public_id))
            .limit(limit)
        )
        fast, slow = _both(api, statement, _tenant(org_pk))
        assert len(fast) == limit
        assert [tuple(r) for r in fast] == [tuple(r) for r in slow]


def test_statements_with_in_lists_fall_back_and_still_answer(api: Api) -> None:
    org_pk, ids = _customers(api, 3)
    statement = scoped(Customer).where(
        col(Customer.public_id).in_(bindparam("ids", expanding=True))
    )
    fast, slow = _both(api, statement, _tenant(org_pk, ids=ids[:2]))
    assert sorted(r.public_id for r in fast) == sorted(ids[:2])
    assert [tuple(r) for r in sorted(fast)] == [tuple(r) for r in sorted(slow)]


def test_postgresql_reads_use_the_pool_and_sqlite_the_engine(api: Api) -> None:
    database = Database(api.settings.database_url, guard=StatementGuard())
    try:
        expected = EngineRows if api.settings.database_url.startswith("sqlite") else PoolRows
        assert isinstance(database.rows, expected)
    finally:
        asyncio.run(database.dispose())


def test_reads_inside_a_write_see_the_write(api: Api) -> None:
    org_pk, ids = _customers(api, 1)

    async def run() -> tuple[Any, Any]:
        database = Database(api.settings.database_url, guard=StatementGuard())
        store = RequestStore(database)
        try:
            by_id = scoped(Customer).where(col(Customer.public_id) == bindparam("public_id"))
            params = _tenant(org_pk, public_id=ids[0])
            row = (await store.session.scalars(by_id, params)).one()
            row.display_name = "Renamed in the transaction"
            await store.session.flush()
            inside = await store.rows.one(by_id, params)
            outside = await database.rows.one(by_id, params)
            return inside, outside
        finally:
            await store.close()  # rolls back: nothing was committed
            await database.dispose()

    inside, outside = asyncio.run(run())
    assert inside.display_name == "Renamed in the transaction"
    assert outside.display_name == "Row 0"


def test_a_mutation_result_reads_its_own_uncommitted_history(api: Api) -> None:
    """Nested reads of a mutation run inside its transaction: the activity it just wrote."""
    cred = api.key()
    data = api.gql(
        """mutation($input: CreateCustomerInput!) {
          createCustomer(input: $input) { id activity { action changedFields } }
        }""",
        {"input": {"displayName": "Fresh"}},
        as_=cred,
    )
    activity = data["createCustomer"]["activity"]
    assert [a["action"] for a in activity] == ["customer.created"]
    assert activity[0]["changedFields"] == ["display_name"]


def test_stored_value_objects_are_projected_unless_exactly_their_fields(api: Api) -> None:
    """REST passes a stored email on as stored only when it is exactly the email's fields;
    a stored object with a missing or an extra member is projected (null / left out)."""
    cred = api.key()
    created = api.rest(
        "POST",
        "/customers",
        as_=cred,
        json={"display_name": "Json", "emails": [{"address": "a@example.com", "label": "work"}]},
    )
    assert created.status_code == 201, created.text
    customer = created.json()["id"]
    exact = {"address": "a@example.com", "label": "work", "primary": True}  # the only one
    assert api.rest("GET", f"/customers/{customer}", as_=cred).json()["emails"] == [exact]
    odd = [
        {"address": "b@example.com", "primary": True},  # no label
        {"address": "c@example.com", "label": None, "primary": False, "legacy": 1},
    ]
    with api.engine.begin() as conn:
        conn.execute(update(Customer).where(col(Customer.public_id) == customer).values(emails=odd))
    expected = [
        {"address": "b@example.com", "label": None, "primary": True},
        {"address": "c@example.com", "label": None, "primary": False},
    ]
    for _ in range(2):  # cold and warm (cached key) paths
        assert api.rest("GET", f"/customers/{customer}", as_=cred).json()["emails"] == expected
        listed = api.rest("GET", "/customers", as_=cred).json()["data"]
        assert listed[0]["emails"] == expected
