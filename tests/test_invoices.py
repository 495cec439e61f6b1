"""Invoices: made directly or converted from an approved estimate (once only, even when two
conversions race), finalized with a due date from their terms, voided or marked
uncollectible, edited only in draft, handed to accounting (pending → exported | failed),
found overdue by the runner's chore. The generic matrices cover it from its declaration."""

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from asteri.app import create_app
from asteri.kit.settings import Settings
from asteri.models import AuditEntry
from asteri.models.invoice import Invoice
from asteri.resolvers.invoice import mark_overdue
from asteri.schema.invoice import snapshot
from tests.factories import REST, Api, Credential, run_chore
from tests.servers import at_once, serving


def _customer(api: Api, key: Credential) -> str:
    made = api.rest(
        "POST", "/customers", as_=key, json={"display_name": f"Inv {secrets.token_hex(3)}"}
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _line(description: str, amount: int, **over: Any) -> dict[str, Any]:
    return {"description": description, "unit_price": {"amount": amount, "currency": "USD"}, **over}


def _invoice(api: Api, key: Credential, **over: Any) -> dict[str, Any]:
    body = {
        "customer_id": _customer(api, key),
        "currency": "USD",
        "tax_rate_bps": 1000,
        "line_items": [_line("Repair", 20_000), _line("Parts", 5_000, taxable=False)],
        **over,
    }
    made = api.rest("POST", "/invoices", as_=key, json=body)
    assert made.status_code == 201, made.text
    invoice: dict[str, Any] = made.json()
    return invoice


def _act(api: Api, cred: Credential, path: str, body: Any = None) -> Any:
    return api.rest("POST", path, as_=cred, json=body)


def test_a_draft_is_numbered_priced_and_finalized_by_its_terms(api: Api) -> None:
    key = api.key()
    invoice = _invoice(api, key, payment_terms="net_15")
    assert (invoice["number"], invoice["status"], invoice["due_date"]) == (
        "INV-0001",
        "draft",
        None,
    )
    assert invoice["total"] == {"amount": 20_000 + 2_000 + 5_000, "currency": "USD"}
    assert invoice["amount_paid"]["amount"] == 0
    assert invoice["amount_due"]["amount"] == 27_000
    assert invoice["accounting"]["export_status"] is None
    finalized = _act(api, key, f"/invoices/{invoice['id']}/finalize")
    assert finalized.status_code == 200, finalized.text
    body = finalized.json()
    today = datetime.now(UTC).date()
    assert body["status"] == "open"
    assert date.fromisoformat(body["due_date"]) in (
        today + timedelta(days=15),
        today + timedelta(days=16),  # finalized at UTC midnight
    )
    assert body["accounting"]["export_status"] == "pending"
    for method, extra in (("PATCH", {"notes": "late"}), ("DELETE", None)):
        refused = api.rest(method, f"/invoices/{invoice['id']}", as_=key, json=extra)
        assert (refused.status_code, refused.json()["state"]) == (409, "open"), refused.text
    assert _invoice(api, key)["number"] == "INV-0002"


def test_a_due_date_given_is_kept_and_void_takes_a_reason(api: Api) -> None:
    key = api.key()
    invoice = _invoice(api, key, due_date="2030-01-31")
    finalized = _act(api, key, f"/invoices/{invoice['id']}/finalize").json()
    assert finalized["due_date"] == "2030-01-31"
    voided = _act(api, key, f"/invoices/{invoice['id']}/void", {"reason": "Billed twice."})
    assert voided.status_code == 200, voided.text
    assert (voided.json()["status"], voided.json()["void_reason"]) == ("void", "Billed twice.")
    again = _act(api, key, f"/invoices/{invoice['id']}/mark_uncollectible")
    assert (again.status_code, again.json()["reason"]) == (409, "invalid_transition")


def test_the_accounting_handoff(api: Api) -> None:
    key = api.key()
    draft = _invoice(api, key)
    early = _act(
        api,
        key,
        f"/invoices/{draft['id']}/record_export",
        {"system": "xero", "external_id": "X-1", "export_status": "exported"},
    )
    assert (early.status_code, early.json()["state"]) == (409, "draft")
    first, second = _invoice(api, key), _invoice(api, key)
    for invoice in (first, second):
        assert _act(api, key, f"/invoices/{invoice['id']}/finalize").status_code == 200
    pending = api.rest("GET", "/invoices", as_=key, params={"export_status": "pending"}).json()
    assert {i["id"] for i in pending["data"]} == {first["id"], second["id"]}

    exported = _act(
        api,
        key,
        f"/invoices/{first['id']}/record_export",
        {"system": "quickbooks", "external_id": "QB-77", "export_status": "exported"},
    )
    assert exported.status_code == 200, exported.text
    assert exported.json()["accounting"] == {
        "export_status": "exported",
        "system": "quickbooks",
        "external_id": "QB-77",
        "error": None,
    }
    failed = _act(
        api,
        key,
        f"/invoices/{second['id']}/record_export",
        {"system": "quickbooks", "export_status": "failed", "error": "Customer not in QB."},
    )
    assert failed.json()["accounting"]["export_status"] == "failed", failed.text
    for bad in (
        {"system": "quickbooks", "export_status": "exported"},  # no external id
        {"system": "quickbooks", "export_status": "failed"},  # no error
        {"system": "quickbooks", "export_status": "pending"},  # not an outcome
    ):
        refused = _act(api, key, f"/invoices/{second['id']}/record_export", bad)
        assert refused.status_code == 422, refused.text
    asked = _act(api, key, f"/invoices/{second['id']}/request_export")
    assert asked.json()["accounting"]["export_status"] == "pending", asked.text
    assert asked.json()["accounting"]["error"] is None
    pending = api.rest("GET", "/invoices", as_=key, params={"export_status": "pending"}).json()
    assert [i["id"] for i in pending["data"]] == [second["id"]]
    with api.engine.connect() as connection:
        actions = (
            connection.execute(
                select(col(AuditEntry.action))
                .where(col(AuditEntry.resource_id) == second["id"])
                .order_by(col(AuditEntry.id))
            )
            .scalars()
            .all()
        )
    assert actions == [
        "invoice.created",
        "invoice.finalized",
        "invoice.export_requested",  # finalized: there is something to export
        "invoice.export_recorded",
        "invoice.export_requested",
    ]


def _approved_estimate(api: Api, key: Credential) -> dict[str, Any]:
    made = api.rest(
        "POST",
        "/estimates",
        as_=key,
        json={
            "customer_id": _customer(api, key),
            "currency": "USD",
            "tax_rate_bps": 825,
            "valid_until": "2029-12-31",
            "line_items": [_line("Condenser swap", 180_000, quantity=1.5)],
            "notes": "As discussed on site.",
        },
    )
    assert made.status_code == 201, made.text
    estimate: dict[str, Any] = made.json()
    for action, body in (("send", None), ("approve", {"customer_name": "Ana", "channel": "email"})):
        done = _act(api, key, f"/estimates/{estimate['id']}/{action}", body)
        assert done.status_code == 200, done.text
    return estimate


def test_an_approved_estimate_converts_once_with_its_lines_as_quoted(api: Api) -> None:
    key = api.key()
    estimate = _approved_estimate(api, key)
    converted = _act(api, key, f"/estimates/{estimate['id']}/convert")
    assert converted.status_code == 200, converted.text
    invoice_id = converted.json()["invoice_id"]
    invoice = api.rest("GET", f"/invoices/{invoice_id}", as_=key).json()
    assert (invoice["status"], invoice["estimate_id"]) == ("draft", estimate["id"])
    assert invoice["line_items"] == estimate["line_items"]
    assert (invoice["total"], invoice["notes"]) == (estimate["total"], estimate["notes"])
    again = _act(api, key, f"/estimates/{estimate['id']}/convert")
    assert (again.status_code, again.json()["reason"]) == (409, "already_converted")
    assert again.json()["invoice_id"] == invoice_id
    listed = api.rest("GET", "/invoices", as_=key, params={"estimate_id": estimate["id"]})
    assert [i["id"] for i in listed.json()["data"]] == [invoice_id]
    data = api.gql(
        "query($id: ID!) { estimate(id: $id) { invoice { id number } } }",
        {"id": estimate["id"]},
        as_=key,
    )
    assert data["estimate"]["invoice"] == {"id": invoice_id, "number": invoice["number"]}

    draft = api.rest(
        "POST",
        "/estimates",
        as_=key,
        json={
            "customer_id": _customer(api, key),
            "currency": "USD",
            "valid_until": "2029-12-31",
            "line_items": [_line("x", 100)],
        },
    ).json()
    early = _act(api, key, f"/estimates/{draft['id']}/convert")
    assert (early.status_code, early.json()["state"]) == (409, "draft")


def test_the_runner_finds_an_open_invoice_overdue_once(api: Api, settings: Settings) -> None:
    key = api.key()
    late, current, draft = (_invoice(api, key) for _ in range(3))
    for invoice in (late, current):
        assert _act(api, key, f"/invoices/{invoice['id']}/finalize").status_code == 200
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with api.engine.begin() as connection:  # as if finalized long ago
        connection.execute(
            update(Invoice)
            .where(col(Invoice.public_id).in_([late["id"], draft["id"]]))
            .values(due_date=yesterday)
        )

    first, second = run_chore(settings, mark_overdue, snapshot)
    assert (first >= 1, second) == (True, 0)
    read = {
        i["id"]: i["overdue_at"]
        for i in (
            api.rest("GET", f"/invoices/{x['id']}", as_=key).json() for x in (late, current, draft)
        )
    }
    assert read[late["id"]] is not None
    assert (read[current["id"]], read[draft["id"]]) == (None, None)
    with api.engine.connect() as connection:
        entries = connection.execute(
            select(AuditEntry).where(
                col(AuditEntry.resource_id) == late["id"],
                col(AuditEntry.action) == "invoice.overdue",
            )
        ).all()
    assert [(e.actor_type, e.actor_id) for e in entries] == [("system", "invoices")]


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def test_two_conversions_at_once_make_one_invoice(api: Api, base_url: str) -> None:
    """Real concurrent transactions over TCP: the same estimate converted six times at once."""
    key = api.key()
    estimate = _approved_estimate(api, key)
    path = f"{REST}/estimates/{estimate['id']}/convert"
    responses = at_once(base_url, [("POST", path, b"", key.headers()) for _ in range(6)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 5, [r.text for r in responses]
    assert all(r.json()["reason"] == "already_converted" for r in responses if r.status_code == 409)
    listed = api.rest("GET", "/invoices", as_=key, params={"estimate_id": estimate["id"]})
    assert len(listed.json()["data"]) == 1


def test_a_document_past_32_bit_amounts_is_stored_whole(api: Api) -> None:
    """A line may be priced up to 10^12 minor units and a document come to 10^15: amounts
    are 64-bit columns on both backends (PostgreSQL's ``integer`` stops near 2.1 * 10^9)."""
    key = api.key()
    invoice = _invoice(
        api,
        key,
        tax_rate_bps=0,
        line_items=[_line("Fleet of trucks", 10**12, quantity=3)],
    )
    assert invoice["total"] == {"amount": 3 * 10**12, "currency": "USD"}
    read = api.rest("GET", f"/invoices/{invoice['id']}", as_=key).json()
    assert read["total"]["amount"] == read["amount_due"]["amount"] == 3 * 10**12
