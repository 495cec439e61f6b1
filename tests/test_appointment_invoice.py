"""Completing an appointment may draft its invoice (``draft_invoice``), in the completion's
transaction: its approved estimate not yet converted, converted; else its service lines,
priced from the catalog as it is then. Without the input a completion is what it always was;
drafting needs ``write:invoices`` too, and lines that cannot be priced refuse the whole
completion. Both surfaces."""

import secrets
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from asteri.authz.scopes import Scope
from asteri.models import Event
from tests.factories import ALL_SCOPES, Api, Credential, create_customer, create_service

COMPLETE = """
mutation($id: ID!, $input: CompleteAppointmentInput) {
  completeAppointment(id: $id, input: $input) { id status version completedAt invoiceId }
}"""
COMPLETE_WITHOUT_INPUT = """
mutation($id: ID!) { completeAppointment(id: $id) { id status version invoiceId } }
"""
ESTIMATE = "query($id: ID!) { estimate(id: $id) { id status invoiceId } }"


def _service(api: Api, key: Credential, amount: int, currency: str = "USD") -> str:
    made = create_service(
        api,
        as_=key,
        name=f"Service {secrets.token_hex(3)}",
        unitPrice={"amount": amount, "currency": currency},
    )
    return str(made["id"])


def _in_progress(
    api: Api, key: Credential, customer: str, lines: list[tuple[str, int]]
) -> dict[str, Any]:
    """A booked appointment for ``customer`` with these (service, quantity) lines, started."""
    made = api.rest(
        "POST",
        "/appointments",
        as_=key,
        json={
            "customer_id": customer,
            "services": [{"service_id": s, "quantity": q} for s, q in lines],
            "scheduled_start": "2027-03-02T15:00:00Z",
            "scheduled_end": "2027-03-02T17:00:00Z",
            "time_zone": "America/Chicago",
        },
    )
    assert made.status_code == 201, made.text
    appointment_id = made.json()["id"]
    for action in ("dispatch", "start"):
        moved = api.rest("POST", f"/appointments/{appointment_id}/{action}", as_=key)
        assert moved.status_code == 200, moved.text
    started: dict[str, Any] = moved.json()
    assert started["status"] == "in_progress"
    return started


def _events(api: Api, request_id: str) -> list[Event]:
    with api.engine.connect() as connection:
        rows = connection.execute(
            select(Event).where(col(Event.request_id) == request_id).order_by(col(Event.id))
        ).all()
    return [Event(**row._mapping) for row in rows]


def _invoices(api: Api, key: Credential) -> list[dict[str, Any]]:
    listed = api.rest("GET", "/invoices", as_=key)
    assert listed.status_code == 200, listed.text
    data: list[dict[str, Any]] = listed.json()["data"]
    return data


def _nothing_landed(
    api: Api, key: Credential, appointment: dict[str, Any], request_id: str
) -> None:
    """The refused completion wrote nothing: the appointment as it was, no invoice, no event."""
    after = api.rest("GET", f"/appointments/{appointment['id']}", as_=key).json()
    assert (after["status"], after["version"], after["invoice_id"]) == (
        "in_progress",
        appointment["version"],
        None,
    )
    assert _invoices(api, key) == []
    assert _events(api, request_id) == []


def _approved_estimate(api: Api, key: Credential, customer: str, appointment: str) -> str:
    made = api.rest(
        "POST",
        "/estimates",
        as_=key,
        json={
            "customer_id": customer,
            "appointment_id": appointment,
            "currency": "USD",
            "tax_rate_bps": 825,
            "valid_until": "2029-12-31",
            "line_items": [
                {
                    "description": f"Quoted repair {secrets.token_hex(3)}",
                    "unit_price": {"amount": 40_000, "currency": "USD"},
                }
            ],
        },
    )
    assert made.status_code == 201, made.text
    estimate = str(made.json()["id"])
    sent = api.rest("POST", f"/estimates/{estimate}/send", as_=key)
    assert sent.status_code == 200, sent.text
    approval = {"customer_name": "Ana Rivera", "channel": "in_person"}
    approved = api.rest("POST", f"/estimates/{estimate}/approve", as_=key, json=approval)
    assert approved.status_code == 200, approved.text
    return estimate


def test_a_completion_without_input_is_what_it_was_on_both_surfaces(api: Api) -> None:
    key = api.key()
    customer = create_customer(api, key)["id"]
    service = _service(api, key, 12_900)
    by_graphql, by_rest, not_asked, not_asked_rest = (
        _in_progress(api, key, customer, [(service, 1)]) for _ in range(4)
    )

    done = api.gql(COMPLETE_WITHOUT_INPUT, {"id": by_graphql["id"]}, as_=key)
    assert done["completeAppointment"] == {
        "id": by_graphql["id"],
        "status": "COMPLETED",
        "version": by_graphql["version"] + 1,
        "invoiceId": None,
    }
    bodiless = api.rest("POST", f"/appointments/{by_rest['id']}/complete", as_=key)
    assert bodiless.status_code == 200, bodiless.text
    assert (bodiless.json()["status"], bodiless.json()["invoice_id"]) == ("completed", None)

    # Asking for no invoice is the same completion.
    false = api.gql(COMPLETE, {"id": not_asked["id"], "input": {"draftInvoice": False}}, as_=key)
    assert (false["completeAppointment"]["status"], false["completeAppointment"]["invoiceId"]) == (
        "COMPLETED",
        None,
    )
    body = {"draft_invoice": False}
    rest_false = api.rest(
        "POST", f"/appointments/{not_asked_rest['id']}/complete", as_=key, json=body
    )
    assert rest_false.status_code == 200, rest_false.text
    assert rest_false.json()["invoice_id"] is None
    assert [e.type for e in _events(api, rest_false.headers["x-request-id"])] == [
        "appointment.completed"
    ]
    assert _invoices(api, key) == []


def test_drafting_prices_the_service_lines_from_the_catalog_as_it_is_now(api: Api) -> None:
    key = api.key()
    customer = create_customer(api, key)["id"]
    tune_up, filter_swap = _service(api, key, 12_900), _service(api, key, 4_550)
    appointment = _in_progress(api, key, customer, [(tune_up, 2), (filter_swap, 3)])
    repriced = api.rest(
        "PATCH",
        f"/services/{tune_up}",
        as_=key,
        json={"unit_price": {"amount": 15_000, "currency": "USD"}},
    )
    assert repriced.status_code == 200, repriced.text
    names = {
        s: api.rest("GET", f"/services/{s}", as_=key).json()["name"] for s in (tune_up, filter_swap)
    }

    done = api.rest(
        "POST", f"/appointments/{appointment['id']}/complete", as_=key, json={"draft_invoice": True}
    )
    assert done.status_code == 200, done.text
    completed = done.json()
    assert completed["status"] == "completed"
    assert completed["version"] == appointment["version"] + 1  # one change, invoice included
    invoice_id = completed["invoice_id"]
    assert invoice_id.startswith("inv_")

    invoice = api.rest("GET", f"/invoices/{invoice_id}", as_=key).json()
    assert (invoice["status"], invoice["number"]) == ("draft", "INV-0001")
    assert (invoice["customer_id"], invoice["appointment_id"], invoice["estimate_id"]) == (
        customer,
        appointment["id"],
        None,
    )
    assert (invoice["tax_rate_bps"], invoice["payment_terms"]) == (0, "net_30")
    lines = [
        (line["service_id"], line["description"], line["quantity"], line["unit_price"]["amount"])
        for line in invoice["line_items"]
    ]
    assert lines == [
        (tune_up, names[tune_up], 2, 15_000),
        (filter_swap, names[filter_swap], 3, 4_550),
    ]
    assert [line["total"]["amount"] for line in invoice["line_items"]] == [30_000, 13_650]
    assert invoice["subtotal"] == {"amount": 43_650, "currency": "USD"}
    assert (invoice["tax_total"]["amount"], invoice["total"]["amount"]) == (0, 43_650)

    request_id = done.headers["x-request-id"]
    events = _events(api, request_id)
    assert [(e.type, e.resource_id) for e in events] == [
        ("appointment.completed", appointment["id"]),
        ("invoice.created", invoice_id),
    ]
    assert events[0].payload["invoice_id"] == invoice_id
    assert events[0].payload["status"] == "completed"
    assert events[1].payload["appointment_id"] == appointment["id"]
    assert _invoices(api, key) == [invoice]


def test_an_approved_estimate_is_converted_instead_newest_first(api: Api) -> None:
    key = api.key()
    customer = create_customer(api, key)["id"]
    appointment = _in_progress(api, key, customer, [(_service(api, key, 12_900), 1)])
    older = _approved_estimate(api, key, customer, appointment["id"])
    newer = _approved_estimate(api, key, customer, appointment["id"])

    response = api.post(
        COMPLETE, {"id": appointment["id"], "input": {"draftInvoice": True}}, as_=key
    )
    assert response.status_code == 200, response.text
    completed = response.json()["data"]["completeAppointment"]
    assert completed["status"] == "COMPLETED"
    invoice_id = completed["invoiceId"]

    converted = api.gql(ESTIMATE, {"id": newer}, as_=key)["estimate"]
    assert (converted["status"], converted["invoiceId"]) == ("APPROVED", invoice_id)
    assert api.gql(ESTIMATE, {"id": older}, as_=key)["estimate"]["invoiceId"] is None
    invoice = api.rest("GET", f"/invoices/{invoice_id}", as_=key).json()
    quoted = api.rest("GET", f"/estimates/{newer}", as_=key).json()
    assert (invoice["estimate_id"], invoice["appointment_id"]) == (newer, appointment["id"])
    assert invoice["line_items"] == quoted["line_items"]  # as quoted, not from the services
    assert (invoice["tax_rate_bps"], invoice["total"]) == (825, quoted["total"])

    events = _events(api, response.headers["x-request-id"])
    assert [(e.type, e.resource_id) for e in events] == [
        ("appointment.completed", appointment["id"]),
        ("invoice.created", invoice_id),
        ("estimate.converted", newer),
    ]
    assert events[0].payload["invoice_id"] == invoice_id
    assert events[2].payload["invoice_id"] == invoice_id
    assert [i["id"] for i in _invoices(api, key)] == [invoice_id]


def test_drafting_without_write_invoices_is_a_403_and_changes_nothing(api: Api) -> None:
    full = api.key()
    scopes = [s for s in ALL_SCOPES if s != Scope.WRITE_INVOICES.value]
    limited = api.key(org=full.organization_id, scopes=scopes)
    customer = create_customer(api, full)["id"]
    service = _service(api, full, 12_900)
    appointment = _in_progress(api, full, customer, [(service, 1)])
    path = f"/appointments/{appointment['id']}/complete"

    refused = api.rest("POST", path, as_=limited, json={"draft_invoice": True})
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert (problem["code"], problem["reason"], problem["required_scope"]) == (
        "FORBIDDEN",
        "missing_scope",
        "write:invoices",
    )
    status, error = api.error(
        COMPLETE, {"id": appointment["id"], "input": {"draftInvoice": True}}, as_=limited
    )
    assert (status, error["extensions"]["code"]) == (403, "FORBIDDEN")
    assert error["extensions"]["required_scope"] == "write:invoices"

    _nothing_landed(api, full, appointment, refused.headers["x-request-id"])
    # The scope is drafting's only: the same key completes without asking for the invoice.
    plain = api.rest("POST", path, as_=limited)
    assert (plain.status_code, plain.json()["status"]) == (200, "completed"), plain.text


def test_lines_that_cannot_be_priced_refuse_the_completion(api: Api) -> None:
    key = api.key()
    customer = create_customer(api, key)["id"]
    dollars, euros = _service(api, key, 12_900), _service(api, key, 9_900, "EUR")
    mixed = _in_progress(api, key, customer, [(dollars, 1), (euros, 1)])
    gone = _service(api, key, 5_000)
    deleted = _in_progress(api, key, customer, [(gone, 1), (dollars, 1)])
    assert api.rest("DELETE", f"/services/{gone}", as_=key).status_code == 204

    refused = api.rest(
        "POST", f"/appointments/{mixed['id']}/complete", as_=key, json={"draft_invoice": True}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "BAD_USER_INPUT"
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/services/1/service_id"]
    assert "EUR" in refused.json()["errors"][0]["detail"]

    _nothing_landed(api, key, mixed, refused.headers["x-request-id"])

    variables = {"id": deleted["id"], "input": {"draftInvoice": True}}
    response = api.post(COMPLETE, variables, as_=key)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [e["pointer"] for e in error["extensions"]["errors"]] == ["/services/0/serviceId"]
    assert gone in error["message"]
    _nothing_landed(api, key, deleted, response.headers["x-request-id"])

    # Nothing was spent either: the next invoice drafted is still the first number.
    fine = _in_progress(api, key, customer, [(dollars, 1)])
    done = api.rest(
        "POST", f"/appointments/{fine['id']}/complete", as_=key, json={"draft_invoice": True}
    )
    assert done.status_code == 200, done.text
    drafted = api.rest("GET", f"/invoices/{done.json()['invoice_id']}", as_=key).json()
    assert drafted["number"] == "INV-0001"
