"""Another organization's or environment's object is a 404 on every path, for every resource.

The resources are discovered: every ``Resource`` the resolvers declare is a case here (derived
in ``tests/resources.py``), and every tenant table must belong to one (or be the machinery's,
tested on its own).
"""

import pytest

from asteri.authz.isolation import tenant_tables
from asteri.kit.ids import IdPrefix
from tests.factories import Api, Credential
from tests.resources import RESOURCES, ResourceCase, declared_resources

ids = [r.name for r in RESOURCES]
PER_ENVIRONMENT = [c for c in RESOURCES if not c.every_environment]
ORGANIZATION_WIDE = [c for c in RESOURCES if c.every_environment]
# Tenant tables that every resource's writes fill, each with its own tests.
MACHINERY = {
    "audit_entries": "test_audit.py",
    "events": "test_audit.py",
    "idempotency_keys": "test_idempotency.py",
    "webhook_attempts": "test_webhook_delivery.py",
    "document_counters": "test_numbering.py",
}


def test_every_resource_has_a_case() -> None:
    declared = declared_resources()
    assert {r.name for r in declared} == {case.name for case in RESOURCES}
    for resource in declared:
        case = next(c for c in RESOURCES if c.name == resource.name)
        assert case.prefix == f"{resource.prefix}_"
        assert case.every_environment is resource.every_environment


def test_every_id_prefix_is_unique() -> None:
    """Resources declare their own prefixes; none may collide with another's or the
    machinery's (``IdPrefix``)."""
    prefixes = [r.prefix for r in declared_resources()]
    prefixes += [p.value for p in IdPrefix if p not in prefixes]
    assert len(prefixes) == len(set(prefixes))
    assert all(p.isalnum() and p.islower() for p in prefixes)


def test_every_tenant_table_belongs_to_a_resource_or_the_machinery() -> None:
    """A resource's own table, a table of its parts (a foreign key to it), or the machinery's."""
    owned = {r.model.__table__ for r in declared_resources()}  # type: ignore[attr-defined]
    for table in tenant_tables():
        parts_of = {fk.column.table for fk in table.foreign_keys} & owned
        assert table in owned or parts_of or table.name in MACHINERY, (
            f"tenant table {table.name} has no resource and no test case"
        )


def _create(api: Api, case: ResourceCase, cred: Credential) -> str:
    data = api.gql(case.create, {"input": case.create_input(api, cred)}, as_=cred)
    public_id = case.created_id(data)
    assert public_id.startswith(case.prefix)
    return public_id


def _assert_invisible(api: Api, case: ResourceCase, public_id: str, outsider: Credential) -> None:
    status, error = api.error(case.get, {"id": public_id}, as_=outsider)
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    listed = api.gql(case.listing, as_=outsider)
    nodes = next(iter(listed.values()))["nodes"]
    assert public_id not in {n["id"] for n in nodes}
    status, error = api.error(
        case.update, {"id": public_id, "input": case.update_input()}, as_=outsider
    )
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    if case.delete is not None:
        status, error = api.error(case.delete, {"id": public_id}, as_=outsider)
        assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize("case", RESOURCES, ids=ids)
def test_other_organization_sees_a_404(api: Api, case: ResourceCase) -> None:
    owner = case.credential(api)
    public_id = _create(api, case, owner)
    _assert_invisible(api, case, public_id, case.credential(api))
    # ...and nothing the outsider tried changed the owner's object.
    api.gql(case.get, {"id": public_id}, as_=owner)


@pytest.mark.parametrize(
    "case", [c for c in RESOURCES if not c.every_environment], ids=lambda c: c.name
)
def test_test_key_never_sees_live_data_and_the_reverse(api: Api, case: ResourceCase) -> None:
    org = api.org()
    live = case.credential(api, org=org, environment="live")
    test = case.credential(api, org=org, environment="test")
    live_id = _create(api, case, live)
    test_id = _create(api, case, test)
    _assert_invisible(api, case, live_id, test)
    _assert_invisible(api, case, test_id, live)
    api.gql(case.get, {"id": live_id}, as_=live)
    api.gql(case.get, {"id": test_id}, as_=test)


@pytest.mark.parametrize(
    "case", [c for c in RESOURCES if c.every_environment], ids=lambda c: c.name
)
def test_an_organization_wide_resource_is_seen_from_both_environments(
    api: Api, case: ResourceCase
) -> None:
    """Its rows belong to the organization (API keys are managed across environments), but
    never to another organization (``test_other_organization_sees_a_404``)."""
    org = api.org()
    live = case.credential(api, org=org, environment="live")
    test = case.credential(api, org=org, environment="test")
    public_id = _create(api, case, live)
    api.gql(case.get, {"id": public_id}, as_=test)
    listed = api.gql(case.listing, as_=test)
    assert public_id in {n["id"] for n in next(iter(listed.values()))["nodes"]}


@pytest.mark.parametrize("case", RESOURCES, ids=ids)
def test_malformed_and_foreign_prefixed_ids_are_404(api: Api, case: ResourceCase) -> None:
    cred = case.credential(api)
    for bad in ["", "nope", "org_" + "A" * 22, case.prefix + "%' OR 1=1 --"]:
        status, error = api.error(case.get, {"id": bad}, as_=cred)
        assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
