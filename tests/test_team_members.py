"""Team members over HTTP against a real database: reads, filters, cursors, PATCH, 409s, events."""

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from asteri.kit.errors import BadUserInput
from asteri.models import AuditEntry, Event, Organization
from asteri.resolvers.team_member import TeamMemberFields
from asteri.resolvers.validation import validate
from tests.factories import Api, Credential, create_team_member

FIELDS = "id name email role active createdAt updatedAt"
GET = f"query($id: ID!) {{ teamMember(id: $id) {{ {FIELDS} }} }}"
LIST = f"""
query($first: Int, $after: String, $filter: TeamMemberFilter, $orderBy: TeamMemberOrder) {{
  teamMembers(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {{
    nodes {{ {FIELDS} }} pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
UPDATE = f"""
mutation($id: ID!, $input: UpdateTeamMemberInput!) {{
  updateTeamMember(id: $id, input: $input) {{ {FIELDS} }}
}}"""
CREATE = f"""
mutation($input: CreateTeamMemberInput!) {{ createTeamMember(input: $input) {{ {FIELDS} }} }}"""
DEACTIVATE = f"mutation($id: ID!) {{ deactivateTeamMember(id: $id) {{ {FIELDS} }} }}"
REACTIVATE = f"mutation($id: ID!) {{ reactivateTeamMember(id: $id) {{ {FIELDS} }} }}"
ORDERS = ["CREATED_AT_DESC", "CREATED_AT_ASC", "UPDATED_AT_DESC", "NAME_ASC"]


def _ids(api: Api, *, as_: Credential, **variables: Any) -> list[str]:
    data = api.gql(LIST, {"first": 100, **variables}, as_=as_)
    return [n["id"] for n in data["teamMembers"]["nodes"]]


def _write_counts(api: Api, *, org: str) -> tuple[int, int]:
    """Audit entries and events of one organization, read outside the API."""
    with Session(api.engine) as session:
        pk = session.scalar(select(col(Organization.id)).where(col(Organization.public_id) == org))
        # What requests wrote: the operator's setup (the test's key) has no request id.
        audits = session.scalar(
            select(func.count()).where(
                col(AuditEntry.organization_id) == pk, col(AuditEntry.request_id).is_not(None)
            )
        )
        events = session.scalar(
            select(func.count()).where(
                col(Event.organization_id) == pk, col(Event.request_id).is_not(None)
            )
        )
    return int(audits or 0), int(events or 0)


def _history(api: Api, *, resource_id: str) -> list[tuple[str, list[str], dict[str, Any]]]:
    """(event type, audited changed fields, event payload) per write, oldest first."""
    with Session(api.engine) as session:
        events = session.scalars(
            select(Event).where(col(Event.resource_id) == resource_id).order_by(col(Event.id))
        ).all()
        audits = session.scalars(
            select(AuditEntry)
            .where(col(AuditEntry.resource_id) == resource_id)
            .order_by(col(AuditEntry.id))
        ).all()
        assert [a.action for a in audits] == [e.type for e in events]
        return [
            (e.type, list(a.changed_fields), e.payload) for e, a in zip(events, audits, strict=True)
        ]


def _pointers(error: dict[str, Any]) -> set[str]:
    return {e["pointer"] for e in error["extensions"]["errors"]}


def test_create_normalises_and_round_trips(api: Api) -> None:
    cred = api.key()
    created = create_team_member(
        api, as_=cred, name="  Ada Lovelace ", email=" Ada.Lovelace@Example.COM ", role="OWNER"
    )
    assert created["id"].startswith("tm_")
    assert created["name"] == "Ada Lovelace"
    assert created["email"] == "ada.lovelace@example.com"
    assert (created["role"], created["active"]) == ("OWNER", True)
    assert api.gql(GET, {"id": created["id"]}, as_=cred)["teamMember"] == created
    [(kind, fields, payload)] = _history(api, resource_id=created["id"])
    assert kind == "team_member.created"
    assert fields == ["active", "email", "name", "role"]
    assert payload["role"] == "owner"
    assert payload["email"] == "ada.lovelace@example.com"


def test_other_organization_member_is_not_found(api: Api) -> None:
    member = create_team_member(api, as_=api.key())
    status, error = api.error(GET, {"id": member["id"]}, as_=api.key())
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    status, error = api.error(DEACTIVATE, {"id": member["id"]}, as_=api.key())
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")


def test_scopes_are_read_team_and_write_team(api: Api) -> None:
    org = api.org()
    reader = api.key(org=org, scopes=["read:team"])
    writer = api.key(org=org, scopes=["write:team"])
    member = create_team_member(api, as_=writer)
    assert _ids(api, as_=reader) == [member["id"]]
    for document, variables in [
        (DEACTIVATE, {"id": member["id"]}),
        (CREATE, {"input": {"name": "N", "email": "n@example.com", "role": "ADMIN"}}),
    ]:
        status, error = api.error(document, variables, as_=reader)
        assert (status, error["extensions"]["required_scope"]) == (403, "write:team")
    status, error = api.error(GET, {"id": member["id"]}, as_=writer)
    assert (status, error["extensions"]["required_scope"]) == (403, "read:team")


def test_filters(api: Api) -> None:
    cred = api.key()
    owner = create_team_member(api, as_=cred, name="Ada Owner", role="OWNER")
    dispatcher = create_team_member(
        api, as_=cred, name="Grace Hopper", email="grace@navy.example", role="DISPATCHER"
    )
    tech_off = create_team_member(api, as_=cred, name="Percent 100% Done", active=False)
    tech_on = create_team_member(api, as_=cred, name="Percent 1000 Done", email="a_b@example.com")
    decoy = create_team_member(api, as_=cred, name="Decoy", email="axb@example.com")
    everyone = {owner["id"], dispatcher["id"], tech_off["id"], tech_on["id"], decoy["id"]}

    def ids(filter_: dict[str, Any]) -> set[str]:
        return set(_ids(api, as_=cred, filter=filter_))

    assert set(_ids(api, as_=cred)) == everyone == ids({"active": None})
    assert ids({"role": "TECHNICIAN"}) == {tech_off["id"], tech_on["id"], decoy["id"]}
    assert ids({"role": "OWNER"}) == {owner["id"]}
    assert ids({"active": False}) == {tech_off["id"]}
    assert ids({"active": True}) == everyone - {tech_off["id"]}
    assert ids({"role": "TECHNICIAN", "active": True}) == {tech_on["id"], decoy["id"]}
    assert ids({"search": "GRACE"}) == {dispatcher["id"]}
    assert ids({"search": "navy.example"}) == {dispatcher["id"]}
    assert ids({"search": "percent done"}) == {tech_off["id"], tech_on["id"]}
    # Wildcards are literal: `%` and `_` match only themselves.
    assert ids({"search": "100%"}) == {tech_off["id"]}
    assert ids({"search": "a_b"}) == {tech_on["id"]}
    assert ids({"search": "nobody-has-this"}) == set()

    renamed = api.gql(UPDATE, {"id": decoy["id"], "input": {"name": "Renamed"}}, as_=cred)
    since = renamed["updateTeamMember"]["updatedAt"]
    assert ids({"updatedSince": since}) == {decoy["id"]}
    assert ids({"updatedSince": "2000-01-01T00:00:00Z"}) == everyone
    status, error = api.error(LIST, {"filter": {"updatedSince": "2000-01-01T00:00:00"}}, as_=cred)
    assert (status, _pointers(error)) == (422, {"/filter/updatedSince"})


def test_orderings(api: Api) -> None:
    cred = api.key()
    charlie, alpha, bravo = (
        create_team_member(api, as_=cred, name=name)["id"] for name in ("Charlie", "Alpha", "Bravo")
    )
    api.gql(UPDATE, {"id": charlie, "input": {"role": "ADMIN"}}, as_=cred)
    assert _ids(api, as_=cred) == [bravo, alpha, charlie]  # CREATED_AT_DESC by default
    assert _ids(api, as_=cred, orderBy="CREATED_AT_ASC") == [charlie, alpha, bravo]
    assert _ids(api, as_=cred, orderBy="UPDATED_AT_DESC") == [charlie, bravo, alpha]
    assert _ids(api, as_=cred, orderBy="NAME_ASC") == [alpha, bravo, charlie]


@pytest.mark.parametrize("order", ORDERS)
def test_cursor_pagination_has_no_gaps_or_duplicates(api: Api, order: str) -> None:
    cred = api.key()
    # Equal names force NAME_ASC to break ties by id across page boundaries.
    for name in ["Same", "Same", "Same", "Beta", "Alpha", "Same", "Gamma"]:
        create_team_member(api, as_=cred, name=name)
    expected = _ids(api, as_=cred, orderBy=order)
    seen: list[str] = []
    after = None
    for _ in range(10):
        data = api.gql(LIST, {"first": 3, "after": after, "orderBy": order}, as_=cred)
        page = data["teamMembers"]
        seen += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(expected) == 7
    assert seen == expected
    other = "NAME_ASC" if order != "NAME_ASC" else "CREATED_AT_DESC"
    status, error = api.error(LIST, {"first": 3, "after": after, "orderBy": other}, as_=cred)
    assert (status, error["extensions"]["code"]) == (400, "BAD_REQUEST")


def test_patch_leaves_absent_fields_untouched(api: Api) -> None:
    cred = api.key()
    member = create_team_member(api, as_=cred, name="Linus", email="linus@example.com")
    data = api.gql(UPDATE, {"id": member["id"], "input": {"role": "DISPATCHER"}}, as_=cred)
    updated = data["updateTeamMember"]
    assert updated == {**member, "role": "DISPATCHER", "updatedAt": updated["updatedAt"]}
    assert updated["updatedAt"] > member["updatedAt"]
    # Sending the current values changes nothing, so nothing is audited.
    api.gql(UPDATE, {"id": member["id"], "input": {"name": "Linus", "active": True}}, as_=cred)
    assert [(k, f) for k, f, _ in _history(api, resource_id=member["id"])] == [
        ("team_member.created", ["active", "email", "name", "role"]),
        ("team_member.updated", ["role"]),
    ]


@pytest.mark.parametrize("field", ["name", "email", "role", "active"])
def test_null_on_a_required_field_is_a_422_with_its_pointer(api: Api, field: str) -> None:
    cred = api.key()
    member = create_team_member(api, as_=cred)
    status, error = api.error(UPDATE, {"id": member["id"], "input": {field: None}}, as_=cred)
    assert (status, error["extensions"]["code"]) == (422, "BAD_USER_INPUT")
    assert _pointers(error) == {f"/input/{field}"}
    assert api.gql(GET, {"id": member["id"]}, as_=cred)["teamMember"] == member


def test_invalid_values_are_422s_naming_each_field(api: Api) -> None:
    cred = api.key()
    bad = {"name": "   ", "email": "not-an-email", "role": "TECHNICIAN"}
    status, error = api.error(CREATE, {"input": bad}, as_=cred)
    assert (status, error["extensions"]["code"]) == (422, "BAD_USER_INPUT")
    assert _pointers(error) == {"/input/name", "/input/email"}
    member = create_team_member(api, as_=cred)
    status, error = api.error(
        UPDATE, {"id": member["id"], "input": {"email": "x@localhost"}}, as_=cred
    )
    assert (status, _pointers(error)) == (422, {"/input/email"})
    assert _ids(api, as_=cred) == [member["id"]]


def test_unknown_role_is_refused(api: Api) -> None:
    """The schema's enum refuses it before any resolver; the resolver's own check backs it."""
    cred = api.key()
    input_ = {"name": "N", "email": "n@example.com", "role": "BOSS"}
    status, error = api.error(CREATE, {"input": input_}, as_=cred)
    assert (status, error["extensions"]["code"]) == (400, "GRAPHQL_VALIDATION_FAILED")
    assert _ids(api, as_=cred) == []
    with pytest.raises(BadUserInput) as raised:
        validate(TeamMemberFields, {**input_, "role": "boss"})
    assert [e.pointer for e in raised.value.errors] == ["/input/role"]


def test_duplicate_email_on_create_is_a_409_and_writes_nothing(api: Api) -> None:
    org = api.org()
    cred = api.key(org=org)
    first = create_team_member(api, as_=cred, email="dup@example.com")
    before = _write_counts(api, org=org)
    input_ = {"name": "Again", "email": "  DUP@Example.com", "role": "ADMIN"}
    status, error = api.error(CREATE, {"input": input_}, as_=cred)
    assert (status, error["extensions"]["code"]) == (409, "CONFLICT")
    assert _pointers(error) == {"/input/email"}
    assert _write_counts(api, org=org) == before == (1, 1)
    assert _ids(api, as_=cred) == [first["id"]]


def test_duplicate_email_on_update_is_a_409_and_writes_nothing(api: Api) -> None:
    org = api.org()
    cred = api.key(org=org)
    create_team_member(api, as_=cred, email="taken@example.com")
    other = create_team_member(api, as_=cred, email="free@example.com")
    before = _write_counts(api, org=org)
    change = {"id": other["id"], "input": {"email": "Taken@example.com", "name": "Moved"}}
    status, error = api.error(UPDATE, change, as_=cred)
    assert (status, error["extensions"]["code"]) == (409, "CONFLICT")
    assert _pointers(error) == {"/input/email"}
    assert _write_counts(api, org=org) == before == (2, 2)
    assert api.gql(GET, {"id": other["id"]}, as_=cred)["teamMember"] == other
    # The failed write left the connection usable: the next write goes through.
    api.gql(UPDATE, {"id": other["id"], "input": {"name": "Moved"}}, as_=cred)
    assert _write_counts(api, org=org) == (3, 3)


def test_email_is_unique_per_organization_and_environment_only(api: Api) -> None:
    org = api.org()
    live, test = api.key(org=org), api.key(org=org, environment="test")
    elsewhere = api.key()
    made = [
        create_team_member(api, as_=c, email="same@example.com") for c in (live, test, elsewhere)
    ]
    assert len({m["id"] for m in made}) == 3
    assert _ids(api, as_=live) == [made[0]["id"]]
    assert _ids(api, as_=test) == [made[1]["id"]]


def test_deactivate_and_reactivate_emit_lifecycle_events(api: Api) -> None:
    cred = api.key()
    member = create_team_member(api, as_=cred, role="DISPATCHER")
    off = api.gql(DEACTIVATE, {"id": member["id"]}, as_=cred)["deactivateTeamMember"]
    assert off["active"] is False
    # Not a transition from `inactive`: refused, and nothing recorded.
    status, error = api.error(DEACTIVATE, {"id": member["id"]}, as_=cred)
    assert status == 409
    assert error["extensions"]["reason"] == "invalid_transition"
    assert error["extensions"]["state"] == "inactive"
    assert error["extensions"]["allowed_transitions"] == ["reactivate"]
    assert _ids(api, as_=cred) == [member["id"]]  # inactive members are still listed
    on = api.gql(REACTIVATE, {"id": member["id"]}, as_=cred)["reactivateTeamMember"]
    assert on["active"] is True
    # Deactivating through update is the same lifecycle event, whichever mutation did it.
    change = {"id": member["id"], "input": {"active": False, "name": "Leaving"}}
    assert api.gql(UPDATE, change, as_=cred)["updateTeamMember"]["active"] is False
    history = _history(api, resource_id=member["id"])
    assert [(k, f, p["active"]) for k, f, p in history] == [
        ("team_member.created", ["active", "email", "name", "role"], True),
        ("team_member.deactivated", ["active"], False),
        ("team_member.reactivated", ["active"], True),
        ("team_member.deactivated", ["active", "name"], False),
    ]
    assert history[-1][2]["name"] == "Leaving"
