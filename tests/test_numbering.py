"""Document numbers: per tenant, from 1, with no gap and no duplicate when many transactions
issue at once, some of them rolling back (real concurrent transactions on each backend)."""

import asyncio
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from asteri.authz.isolation import StatementGuard
from asteri.authz.principal import ActorType, Principal
from asteri.authz.scopes import Scope
from asteri.authz.tenancy import tenant
from asteri.kit.db import Database, RequestStore
from asteri.models import Environment, Organization
from asteri.resolvers.numbering import DocumentKind, issue_number
from asteri.resolvers.unit import UnitOfWork
from tests.factories import Api, org_pk


def _principal(api: Api, organization_id: str, environment: Environment) -> Principal:
    return Principal(
        organization_pk=org_pk(api.engine, organization_id),
        organization_id=organization_id,
        environment=environment,
        scopes=frozenset(Scope),
        actor_type=ActorType.API_KEY,
        actor_id="key_numbering_test",
    )


async def _issue(
    database: Database, principal: Principal, kind: DocumentKind, *, keep: bool
) -> str | None:
    """One write transaction that issues a number, holds it a moment (others queue behind
    its lock), then commits it or rolls it back."""
    store = RequestStore(database)
    store.tenant = tenant(principal)
    uow = UnitOfWork(store, principal, "req-numbering")
    try:
        number = await issue_number(uow, kind)
        await asyncio.sleep(0.005)
        if not keep:
            await uow.session.rollback()
            return None
        await uow.session.commit()
        return number
    finally:
        await store.close()


def _issue_at_once(api: Api, calls: list[tuple[Principal, DocumentKind, bool]]) -> list[Any]:
    database = Database(api.settings.database_url, guard=StatementGuard())

    async def run() -> list[Any]:
        try:
            return await asyncio.gather(
                *(_issue(database, who, kind, keep=keep) for who, kind, keep in calls)
            )
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_numbers_have_no_gap_and_no_duplicate_when_issued_at_once(api: Api) -> None:
    principal = _principal(api, api.key().organization_id, Environment.LIVE)
    # The first number too is issued by many at once: the counter row does not exist yet.
    keeps = [i % 4 != 3 for i in range(24)]
    issued = _issue_at_once(api, [(principal, "estimate", keep) for keep in keeps])
    kept = [n for n in issued if n is not None]
    assert len(kept) == sum(keeps) == 18
    assert sorted(kept) == [f"EST-{i:04d}" for i in range(1, 19)]  # rolled-back ones reused
    (after,) = _issue_at_once(api, [(principal, "estimate", True)])
    assert after == "EST-0019"


def test_each_tenant_and_kind_counts_on_its_own_with_its_prefix(api: Api) -> None:
    org = api.key().organization_id
    other = api.key().organization_id
    with api.engine.begin() as connection:
        connection.execute(
            update(Organization)
            .where(col(Organization.public_id) == org)
            .values(estimate_prefix="Q", invoice_prefix="BILL")
        )
    live, test = (_principal(api, org, env) for env in (Environment.LIVE, Environment.TEST))
    elsewhere = _principal(api, other, Environment.LIVE)
    issued = _issue_at_once(
        api,
        [
            (live, "estimate", True),
            (test, "estimate", True),
            (live, "invoice", True),
            (elsewhere, "estimate", True),
        ],
    )
    assert issued == ["Q-0001", "Q-0001", "BILL-0001", "EST-0001"]
    assert _issue_at_once(api, [(live, "estimate", True)]) == ["Q-0002"]
