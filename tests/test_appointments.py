"""Appointments: fields and their validation, the address rule, rescheduling, assignment and
double booking (with real concurrent requests), filters and order, nested reads and their
scopes, and the statement count of a list. Every lifecycle path and forbidden transition is
walked by ``test_lifecycle.py``; the tenancy, scope, audit and parity matrices cover
appointments through the resource spec."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from asteri.app import create_app
from asteri.kit.settings import Settings
from asteri.models import Event
from asteri.resolvers.appointment import APPOINTMENTS
from asteri.resolvers.customer import CUSTOMERS
from tests.factories import (
    REST,
    Api,
    Credential,
    create_customer,
    create_object,
    create_service,
    create_team_member,
    sample_input,
)
from tests.servers import at_once, serving
from tests.test_query_counts import LIST_BOUND, _report, counting

FIELDS = """
id customerId status scheduledStart scheduledEnd timeZone notes completedAt cancelReason
assigneeIds services { serviceId quantity } address { line1 city primary }
"""
CREATE = f"""
mutation($input: CreateAppointmentInput!) {{ createAppointment(input: $input) {{ {FIELDS} }} }}
"""
ASSIGN = f"""
mutation($id: ID!, $input: AssignAppointmentInput!) {{
  assignAppointment(id: $id, input: $input) {{ {FIELDS} }}
}}"""
UNASSIGN = f"""
mutation($id: ID!, $input: UnassignAppointmentInput!) {{
  unassignAppointment(id: $id, input: $input) {{ {FIELDS} }}
}}"""
RESCHEDULE = f"""
mutation($id: ID!, $input: RescheduleAppointmentInput!) {{
  rescheduleAppointment(id: $id, input: $input) {{ {FIELDS} }}
}}"""


def _window(day: int, start: int, end: int) -> dict[str, str]:
    """A window on 2027-03-<day>, from ``start`` to ``end`` o'clock UTC."""
    return {
        "scheduledStart": f"2027-03-{day:02d}T{start:02d}:00:00Z",
        "scheduledEnd": f"2027-03-{day:02d}T{end:02d}:00:00Z",
    }


class Tenant:
    """An organization with one customer, one service and a key that may do everything."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.key = api.key()
        self.customer = create_customer(api, self.key)
        self.service = create_service(api, as_=self.key)["id"]

    def member(self, **fields: Any) -> str:
        return str(create_team_member(self.api, as_=self.key, **fields)["id"])

    def input(self, **fields: Any) -> dict[str, Any]:
        base = {
            "customerId": self.customer["id"],
            "services": [{"serviceId": self.service, "quantity": 2}],
            "timeZone": "America/Chicago",
            "assigneeIds": [],
            **_window(2, 15, 17),
        }
        return {**base, **fields}

    def create(self, **fields: Any) -> dict[str, Any]:
        appointment: dict[str, Any] = self.api.gql(
            CREATE, {"input": self.input(**fields)}, as_=self.key
        )["createAppointment"]
        return appointment

    def error(self, document: str, variables: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self.api.error(document, variables, as_=self.key)


@pytest.fixture
def tenant(api: Api) -> Tenant:
    return Tenant(api)


def _events(api: Api, public_id: str) -> list[Event]:
    with api.engine.connect() as connection:
        rows = connection.execute(
            select(Event).where(col(Event.resource_id) == public_id).order_by(col(Event.id))
        ).all()
    return [Event(**row._mapping) for row in rows]


def test_a_new_appointment_is_scheduled_at_the_customers_primary_address(
    api: Api, tenant: Tenant
) -> None:
    created = tenant.create(notes="Gate code 4410.")
    assert created["status"] == "SCHEDULED"
    assert created["customerId"] == tenant.customer["id"]
    assert created["services"] == [{"serviceId": tenant.service, "quantity": 2}]
    assert created["scheduledStart"] == "2027-03-02T15:00:00+00:00"
    assert created["address"]["line1"] == tenant.customer["addresses"][0]["line1"]
    assert (created["completedAt"], created["cancelReason"]) == (None, None)
    (event,) = _events(api, created["id"])
    assert event.type == "appointment.scheduled"
    assert event.payload["id"] == created["id"]
    assert event.payload["status"] == "scheduled"


def test_the_address_is_given_inline_or_picked_from_the_customers(tenant: Tenant) -> None:
    inline = tenant.create(address={"line1": "9 Elm St", "city": "Round Rock"})
    assert (inline["address"]["line1"], inline["address"]["city"]) == ("9 Elm St", "Round Rock")
    picked = tenant.create(customerAddressIndex=0)
    assert picked["address"]["line1"] == tenant.customer["addresses"][0]["line1"]
    _, error = tenant.error(CREATE, {"input": tenant.input(customerAddressIndex=3)})
    assert error["extensions"]["errors"][0]["pointer"] == "/input/customerAddressIndex"
    _, error = tenant.error(
        CREATE, {"input": tenant.input(address={"line1": "x"}, customerAddressIndex=0)}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_customer_without_an_address_needs_one_given(api: Api, tenant: Tenant) -> None:
    bare = create_customer(api, tenant.key, addresses=[])
    _, error = tenant.error(CREATE, {"input": tenant.input(customerId=bare["id"])})
    assert error["extensions"]["errors"][0]["pointer"] == "/input/address"


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        (_window(2, 17, 15), "/input"),  # ends before it starts
        (_window(2, 15, 15), "/input"),  # empty
        (
            {"scheduledStart": "2027-03-01T00:00:00Z", "scheduledEnd": "2027-03-15T00:01:00Z"},
            "/input",
        ),
        ({"scheduledStart": "2027-03-02T15:00:00"}, "/input/scheduledStart"),  # no offset
        ({"timeZone": "Mars/Olympus_Mons"}, "/input/timeZone"),
        ({"timeZone": "../../etc/passwd"}, "/input/timeZone"),
        ({"services": []}, "/input/services"),
        ({"customerId": "cus_missing"}, "/input/customerId"),
        ({"notes": "x" * 10_001}, "/input/notes"),
    ],
)
def test_invalid_appointments_are_refused_with_a_pointer(
    tenant: Tenant, fields: dict[str, Any], pointer: str
) -> None:
    _, error = tenant.error(CREATE, {"input": tenant.input(**fields)})
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert pointer in [e["pointer"] for e in error["extensions"]["errors"]], error


def test_a_window_of_exactly_14_days_is_allowed(tenant: Tenant) -> None:
    window = {"scheduledStart": "2027-03-01T00:00:00Z", "scheduledEnd": "2027-03-15T00:00:00Z"}
    assert tenant.create(**window)["status"] == "SCHEDULED"


def test_another_organizations_objects_are_no_such_objects(api: Api, tenant: Tenant) -> None:
    """Their ids are refused exactly like ids that do not exist: nothing leaks."""
    other = Tenant(api)
    member = other.member()
    cases = [
        ({"customerId": other.customer["id"]}, "/input/customerId"),
        ({"services": [{"serviceId": other.service}]}, "/input/services/0/serviceId"),
        ({"assigneeIds": [member]}, "/input/assigneeIds/0"),
    ]
    for fields, pointer in cases:
        _, error = tenant.error(CREATE, {"input": tenant.input(**fields)})
        (detail,) = error["extensions"]["errors"]
        assert detail["pointer"] == pointer
        assert detail["detail"].startswith("no such")


def test_inactive_services_and_members_take_no_new_work(api: Api, tenant: Tenant) -> None:
    retired = create_service(api, as_=tenant.key, active=False)["id"]
    _, error = tenant.error(CREATE, {"input": tenant.input(services=[{"serviceId": retired}])})
    assert error["extensions"]["errors"][0]["detail"] == "inactive"
    gone = tenant.member()
    api.gql(
        "mutation($id: ID!) { deactivateTeamMember(id: $id) { id } }", {"id": gone}, as_=tenant.key
    )
    _, error = tenant.error(CREATE, {"input": tenant.input(assigneeIds=[gone])})
    assert error["extensions"]["errors"][0] == {
        "pointer": "/input/assigneeIds/0",
        "detail": "inactive",
    }


def test_assign_and_unassign_are_their_own_events(api: Api, tenant: Tenant) -> None:
    sam, kim = tenant.member(), tenant.member()
    created = tenant.create(assigneeIds=[sam])
    assigned = api.gql(
        ASSIGN, {"id": created["id"], "input": {"teamMemberIds": [kim, sam]}}, as_=tenant.key
    )
    assert assigned["assignAppointment"]["assigneeIds"] == [sam, kim]
    again = api.gql(
        ASSIGN, {"id": created["id"], "input": {"teamMemberIds": [kim]}}, as_=tenant.key
    )
    assert again["assignAppointment"]["assigneeIds"] == [sam, kim]  # no change, no event
    removed = api.gql(
        UNASSIGN, {"id": created["id"], "input": {"teamMemberIds": [sam]}}, as_=tenant.key
    )
    assert removed["unassignAppointment"]["assigneeIds"] == [kim]
    types = [e.type for e in _events(api, created["id"])]
    assert types == ["appointment.scheduled", "appointment.assigned", "appointment.unassigned"]


def test_double_booking_is_a_conflict_naming_the_other_appointment(
    api: Api, tenant: Tenant
) -> None:
    sam = tenant.member()
    first = tenant.create(assigneeIds=[sam], **_window(2, 15, 17))
    overlapping = tenant.create(**_window(2, 15, 16))
    status, error = tenant.error(
        ASSIGN, {"id": overlapping["id"], "input": {"teamMemberIds": [sam]}}
    )
    extensions = error["extensions"]
    assert (status, extensions["code"], extensions["reason"]) == (
        409,
        "CONFLICT",
        "schedule_conflict",
    )
    assert extensions["conflicting_appointment_id"] == first["id"]
    assert extensions["team_member_id"] == sam
    assert first["id"] in error["message"]
    # Creating with the member booked is refused the same way, and writes nothing.
    _, error = tenant.error(
        CREATE, {"input": tenant.input(assigneeIds=[sam], **_window(2, 14, 16))}
    )
    assert error["extensions"]["reason"] == "schedule_conflict"
    # Back to back is not an overlap; a cancelled appointment holds no time.
    assert tenant.create(assigneeIds=[sam], **_window(2, 17, 18))["status"] == "SCHEDULED"
    api.gql(
        'mutation($id: ID!) { cancelAppointment(id: $id, input: {reason: "Rain"}) { id } }',
        {"id": first["id"]},
        as_=tenant.key,
    )
    freed = api.gql(
        ASSIGN, {"id": overlapping["id"], "input": {"teamMemberIds": [sam]}}, as_=tenant.key
    )
    assert freed["assignAppointment"]["assigneeIds"] == [sam]


def test_rescheduling_keeps_its_people_free_and_only_before_work_starts(
    api: Api, tenant: Tenant
) -> None:
    sam = tenant.member()
    tenant.create(assigneeIds=[sam], **_window(3, 9, 11))
    moving = tenant.create(assigneeIds=[sam], **_window(2, 9, 11))
    status, error = tenant.error(RESCHEDULE, {"id": moving["id"], "input": _window(3, 10, 12)})
    assert (status, error["extensions"]["reason"]) == (409, "schedule_conflict")
    moved = api.gql(
        RESCHEDULE,
        {"id": moving["id"], "input": {**_window(4, 10, 12), "timeZone": "America/Denver"}},
        as_=tenant.key,
    )["rescheduleAppointment"]
    assert (moved["scheduledStart"], moved["timeZone"]) == (
        "2027-03-04T10:00:00+00:00",
        "America/Denver",
    )
    assert _events(api, moving["id"])[-1].type == "appointment.rescheduled"
    for step in ("dispatch", "start"):
        api.gql(
            f"mutation($id: ID!) {{ {step}Appointment(id: $id) {{ id }} }}",
            {"id": moving["id"]},
            as_=tenant.key,
        )
    status, error = tenant.error(RESCHEDULE, {"id": moving["id"], "input": _window(5, 10, 12)})
    extensions = error["extensions"]
    assert (status, extensions["reason"], extensions["state"]) == (
        409,
        "invalid_transition",
        "in_progress",
    )
    assert extensions["allowed_transitions"] == ["complete"]


def test_cancel_needs_a_reason_and_keeps_it(api: Api, tenant: Tenant) -> None:
    created = tenant.create()
    cancel = """
    mutation($id: ID!, $r: String!) {
      cancelAppointment(id: $id, input: {reason: $r}) { status cancelReason }
    }"""
    _, error = tenant.error(cancel, {"id": created["id"], "r": "  "})
    assert error["extensions"]["errors"][0]["pointer"] == "/input/reason"
    done = api.gql(cancel, {"id": created["id"], "r": "Customer is travelling."}, as_=tenant.key)
    assert done["cancelAppointment"] == {
        "status": "CANCELLED",
        "cancelReason": "Customer is travelling.",
    }
    rest = api.rest("POST", f"/appointments/{created['id']}/cancel", as_=tenant.key, json={})
    assert rest.status_code == 422, rest.text  # the body's reason is required on REST too


def test_completing_records_when(api: Api, tenant: Tenant) -> None:
    created = tenant.create()
    for step in ("dispatch", "start", "complete"):
        response = api.rest("POST", f"/appointments/{created['id']}/{step}", as_=tenant.key)
        assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed"  # REST spells enum values in snake_case
    assert body["completed_at"] is not None


def _listed(api: Api, cred: Credential, **params: Any) -> list[str]:
    response = api.rest("GET", "/appointments", as_=cred, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()["data"]]


def test_filters_and_order(api: Api, tenant: Tenant) -> None:
    sam = tenant.member()
    other = create_customer(api, tenant.key)
    late = tenant.create(**_window(5, 9, 10))
    early = tenant.create(assigneeIds=[sam], **_window(1, 9, 10))
    middle = tenant.create(customerId=other["id"], **_window(3, 9, 10))
    api.gql(
        "mutation($id: ID!) { markNoShowAppointment(id: $id) { id } }",
        {"id": middle["id"]},
        as_=tenant.key,
    )
    ids = [early["id"], middle["id"], late["id"]]
    assert _listed(api, tenant.key) == ids  # by scheduled start
    assert _listed(api, tenant.key, order_by="scheduled_start_desc") == ids[::-1]
    # Overlapping a range: ends after `window_from` and starts before `window_to`.
    in_range = {"window_from": "2027-03-01T09:30:00Z", "window_to": "2027-03-03T09:00:00Z"}
    assert _listed(api, tenant.key, **in_range) == [early["id"]]
    assert _listed(api, tenant.key, status=["no_show", "scheduled"]) == ids
    assert _listed(api, tenant.key, status="no_show") == [middle["id"]]
    assert _listed(api, tenant.key, team_member_id=sam) == [early["id"]]
    assert _listed(api, tenant.key, customer_id=other["id"]) == [middle["id"]]
    bad = api.rest(
        "GET", "/appointments", as_=tenant.key, params={"window_from": "2027-03-01T09:30:00"}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "BAD_USER_INPUT")


NESTED = """
query($first: Int!) {
  appointments(first: $first) {
    nodes {
      id
      customer { id displayName }
      assignees { id name }
      services { quantity service { id name } }
    }
  }
}"""


def test_nested_reads_and_the_customers_appointments(api: Api, tenant: Tenant) -> None:
    sam = tenant.member(name="Sam Okafor")
    created = tenant.create(assigneeIds=[sam])
    (node,) = api.gql(NESTED, {"first": 5}, as_=tenant.key)["appointments"]["nodes"]
    assert node["customer"] == {
        "id": tenant.customer["id"],
        "displayName": tenant.customer["displayName"],
    }
    assert node["assignees"] == [{"id": sam, "name": "Sam Okafor"}]
    assert node["services"][0]["service"]["id"] == tenant.service
    query = "query($id: ID!) { customer(id: $id) { appointments { id status } } }"
    data = api.gql(query, {"id": tenant.customer["id"]}, as_=tenant.key)
    assert data["customer"]["appointments"] == [{"id": created["id"], "status": "SCHEDULED"}]


def test_each_related_object_needs_its_own_read_scope(api: Api, tenant: Tenant) -> None:
    tenant.create()
    reader = api.key(org=tenant.key.organization_id, scopes=["read:appointments"])
    response = api.post(NESTED, {"first": 5}, as_=reader)
    reasons = {
        (e["path"][-1], e["extensions"]["required_scope"]) for e in response.json()["errors"]
    }
    assert reasons == {
        ("customer", "read:customers"),
        ("assignees", "read:team"),
        ("service", "read:services"),
    }
    rest = api.rest("GET", "/appointments", as_=reader)  # REST shows ids only: no other scope
    assert rest.status_code == 200, rest.text


def test_a_list_of_50_with_customer_and_assignees_takes_at_most_3_statements(api: Api) -> None:
    cred = api.key()
    customers = [create_object(api, CUSTOMERS, cred) for _ in range(5)]
    members = [create_team_member(api, as_=cred)["id"] for _ in range(10)]
    base = sample_input(api, APPOINTMENTS, cred)
    for i in range(50):
        day, hour = 1 + i // 10, 8 + i % 10
        input_ = {
            **base,
            "customerId": customers[i % 5],
            "assigneeIds": [members[i % 10]],
            **_window(day, hour, hour + 1),
        }
        api.gql(CREATE, {"input": input_}, as_=cred)
    query = """
    query($first: Int!) {
      appointments(first: $first) {
        nodes { id customer { id displayName } assignees { id name } }
      }
    }"""
    api.gql(query, {"first": 1}, as_=cred)
    with counting(api) as one:
        api.gql(query, {"first": 1}, as_=cred)
    with counting(api) as statements:
        nodes = api.gql(query, {"first": 50}, as_=cred)["appointments"]["nodes"]
    assert len(nodes) == 50
    assert all(n["customer"]["id"] in customers and len(n["assignees"]) == 1 for n in nodes)
    assert len(statements) <= LIST_BOUND, _report("GraphQL appointments", statements)
    assert len(statements) == len(one), "statements grow with the page size: an N+1"
    print(f"\nGraphQL list of 50 appointments with customer and assignees: {len(statements)}")


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def test_concurrent_conflicting_assignments_exactly_one_wins(api: Api, base_url: str) -> None:
    """Real concurrent transactions over TCP: eight overlapping appointments, the same member
    assigned to each at once. One assignment lands; every other is a schedule conflict."""
    tenant = Tenant(api)
    sam = tenant.member()
    workers = 8
    targets = [tenant.create(**_window(2, 9 + i % 3, 13))["id"] for i in range(workers)]
    body = {"team_member_ids": [sam]}
    responses = at_once(
        base_url,
        [("POST", f"{REST}/appointments/{t}/assign", body, tenant.key.headers()) for t in targets],
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (workers - 1), [r.text for r in responses]
    assert all(r.json()["reason"] == "schedule_conflict" for r in responses if r.status_code == 409)
    booked = _listed(api, tenant.key, team_member_id=sam)
    assert len(booked) == 1
