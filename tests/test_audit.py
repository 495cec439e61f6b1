"""Every write audits and emits in its own transaction; a failed write leaves no trace."""

from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from asteri.models import AuditEntry, Event, Organization
from tests.factories import Api, Credential
from tests.resources import RESOURCES, ResourceCase

ids = [r.name for r in RESOURCES]


def _trail(api: Api, cred: Credential, resource: str) -> tuple[list[Any], list[Any]]:
    with api.engine.connect() as conn:
        org_pk = conn.scalar(
            select(col(Organization.id)).where(col(Organization.public_id) == cred.organization_id)
        )
        # What requests did: the operator's setup (the test's key, by the CLI path) has no
        # request id.
        audits = conn.execute(
            select(AuditEntry)
            .where(
                col(AuditEntry.organization_id) == org_pk,
                col(AuditEntry.request_id).is_not(None),
                col(AuditEntry.resource_type) == resource,
            )
            .order_by(col(AuditEntry.id))
        ).all()
        events = conn.execute(
            select(Event)
            .where(
                col(Event.organization_id) == org_pk,
                col(Event.request_id).is_not(None),
                col(Event.resource_type) == resource,
            )
            .order_by(col(Event.id))
        ).all()
    return list(audits), list(events)


@pytest.mark.parametrize("case", RESOURCES, ids=ids)
def test_each_write_records_one_audit_entry_and_one_event(api: Api, case: ResourceCase) -> None:
    cred = case.credential(api)
    request_id = "req-audit-matrix-1"
    response = api.client.post(
        "/api/public/v1/graphql",
        json={"query": case.create, "variables": {"input": case.create_input(api, cred)}},
        headers={**cred.headers(), "x-request-id": request_id},
    )
    assert response.headers["x-request-id"] == request_id
    public_id = case.created_id(response.json()["data"])

    api.gql(case.update, {"id": public_id, "input": case.update_input()}, as_=cred)
    verbs = [case.created_verb, "updated"]
    if case.delete is not None:
        api.gql(case.delete, {"id": public_id}, as_=cred)
        verbs.append(case.delete_verb)

    audits, events = _trail(api, cred, case.name)
    assert [a.action for a in audits] == [f"{case.name}.{v}" for v in verbs]
    assert [e.type for e in events] == [f"{case.name}.{v}" for v in verbs]
    for audit in audits:
        assert audit.resource_id == public_id
        assert audit.actor_type == ("member" if case.manager else "api_key")
        assert audit.actor_id == cred.key_id
        assert audit.environment == "live"
        assert audit.occurred_at.tzinfo is not None
    assert audits[0].request_id == request_id
    assert sorted(audits[1].changed_fields) == sorted(case.update_fields)
    assert events[0].payload["id"] == public_id
    assert events[0].payload["created_at"]


@pytest.mark.parametrize("case", RESOURCES, ids=ids)
def test_failed_writes_leave_no_audit_or_event(api: Api, case: ResourceCase) -> None:
    cred = case.credential(api)
    data = api.gql(case.create, {"input": case.create_input(api, cred)}, as_=cred)
    public_id = case.created_id(data)
    before = _trail(api, cred, case.name)

    # Not found, invalid input, missing scope: none may leave a row behind.
    api.error(case.update, {"id": case.prefix + "missing", "input": case.update_input()}, as_=cred)
    api.error(
        case.create, {"input": {**case.create_input(api, cred), **case.invalid_input}}, as_=cred
    )
    # Lacks the write scope (and, being a key, may not manage keys either).
    reader = api.key(org=cred.organization_id, scopes=["read:customers"])
    api.error(case.update, {"id": public_id, "input": case.update_input()}, as_=reader)
    if case.delete is not None:
        api.error(case.delete, {"id": case.prefix + "missing"}, as_=cred)

    assert _trail(api, cred, case.name) == before


def test_unchanged_update_is_not_an_event(api: Api) -> None:
    cred = api.key()
    data = api.gql(
        'mutation { createCustomer(input: {displayName: "Same", company: "Acme"}) { id } }',
        as_=cred,
    )
    public_id = data["createCustomer"]["id"]
    before = _trail(api, cred, "customer")
    api.gql(
        'mutation($id: ID!) { updateCustomer(id: $id, input: {company: "Acme"}) { id } }',
        {"id": public_id},
        as_=cred,
    )
    assert _trail(api, cred, "customer") == before
