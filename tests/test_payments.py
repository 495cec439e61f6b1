"""Payments: recorded against a finalized invoice in its currency, succeeded at once or
pending until confirmed or failed, refunded in part or in full by refunds of their own; the
invoice's balance, status and events follow in the same transaction, and no payment, however
many race, collects more than the invoice is owed. The generic matrices cover the resource
from its declaration."""

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from asteri.app import create_app
from asteri.kit.settings import Settings
from asteri.models import Event
from asteri.models.payment import Payment, PaymentRefund
from tests.factories import REST, Api, Credential
from tests.servers import at_once, serving
from tests.test_query_counts import LIST_BOUND, _report, counting

TOTAL = 20_000 + 2_000 + 5_000  # the invoice below: 200.00 taxed at 10 %, and 50.00 untaxed


def _invoice(api: Api, key: Credential, *, finalize: bool = True) -> dict[str, Any]:
    customer = api.rest(
        "POST", "/customers", as_=key, json={"display_name": f"Pay {secrets.token_hex(3)}"}
    )
    assert customer.status_code == 201, customer.text
    body = {
        "customer_id": customer.json()["id"],
        "currency": "USD",
        "tax_rate_bps": 1000,
        "line_items": [
            {"description": "Repair", "unit_price": {"amount": 20_000, "currency": "USD"}},
            {
                "description": "Parts",
                "unit_price": {"amount": 5_000, "currency": "USD"},
                "taxable": False,
            },
        ],
    }
    made = api.rest("POST", "/invoices", as_=key, json=body)
    assert made.status_code == 201, made.text
    invoice: dict[str, Any] = made.json()
    assert invoice["total"]["amount"] == TOTAL
    if finalize:
        done = api.rest("POST", f"/invoices/{invoice['id']}/finalize", as_=key)
        assert done.status_code == 200, done.text
        invoice = done.json()
    return invoice


def _pay(api: Api, key: Credential, invoice_id: str, minor_units: int, **over: Any) -> Any:
    body = {
        "invoice_id": invoice_id,
        "amount": {"amount": minor_units, "currency": "USD"},
        "method": "cash",
        **over,
    }
    return api.rest("POST", "/payments", as_=key, json=body)


def _read(api: Api, key: Credential, path: str) -> dict[str, Any]:
    found = api.rest("GET", path, as_=key)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def _events(api: Api, request_id: str) -> list[tuple[str, str]]:
    with api.engine.connect() as connection:
        rows = connection.execute(
            select(col(Event.type), col(Event.resource_id))
            .where(col(Event.request_id) == request_id)
            .order_by(col(Event.id))
        ).all()
    return [(r[0], r[1]) for r in rows]


def test_payments_bring_an_invoice_to_partially_paid_then_paid(api: Api) -> None:
    key = api.key()
    invoice = _invoice(api, key)
    first = _pay(api, key, invoice["id"], 10_000, reference="till 3")
    assert first.status_code == 201, first.text
    payment = first.json()
    assert (payment["status"], payment["method"], payment["customer_id"]) == (
        "succeeded",
        "cash",
        invoice["customer_id"],
    )
    assert payment["amount"] == {"amount": 10_000, "currency": "USD"}
    assert payment["amount_refunded"]["amount"] == 0
    assert payment["refunded"] is False
    assert payment["succeeded_at"] is not None
    assert payment["card"] is None
    # The payment, its success and the invoice's new balance: one request, one transaction.
    assert _events(api, first.headers["x-request-id"]) == [
        ("payment.created", payment["id"]),
        ("payment.succeeded", payment["id"]),
        ("invoice.partially_paid", invoice["id"]),
    ]
    after = _read(api, key, f"/invoices/{invoice['id']}")
    assert after["status"] == "partially_paid"
    assert (after["amount_paid"]["amount"], after["amount_due"]["amount"]) == (10_000, 17_000)

    card = {"brand": "visa", "last4": "4242"}
    rest = _pay(api, key, invoice["id"], 17_000, method="card", card=card)
    assert rest.status_code == 201, rest.text
    assert rest.json()["card"] == card
    assert _events(api, rest.headers["x-request-id"])[-1] == ("invoice.paid", invoice["id"])
    paid = _read(api, key, f"/invoices/{invoice['id']}")
    assert (paid["status"], paid["amount_due"]["amount"]) == ("paid", 0)

    more = _pay(api, key, invoice["id"], 1)
    assert (more.status_code, more.json()["reason"]) == (409, "exceeds_amount_due"), more.text
    assert more.json()["amount_due"] == {"amount": 0, "currency": "USD"}
    listed = api.rest("GET", "/payments", as_=key, params={"invoice_id": invoice["id"]})
    assert {p["id"] for p in listed.json()["data"]} == {payment["id"], rest.json()["id"]}


def test_a_payment_above_what_is_due_is_refused_and_records_nothing(api: Api) -> None:
    key = api.key()
    invoice = _invoice(api, key)
    refused = _pay(api, key, invoice["id"], TOTAL + 1)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert refused.headers["content-type"] == "application/problem+json"
    assert (problem["code"], problem["reason"]) == ("CONFLICT", "exceeds_amount_due")
    assert problem["amount_due"] == {"amount": TOTAL, "currency": "USD"}
    assert _events(api, refused.headers["x-request-id"]) == []
    assert _read(api, key, f"/invoices/{invoice['id']}")["amount_paid"]["amount"] == 0
    assert api.rest("GET", "/payments", as_=key).json()["data"] == []


def test_a_pending_payment_holds_its_amount_until_it_is_confirmed_or_fails(api: Api) -> None:
    key = api.key()
    invoice = _invoice(api, key)
    pending = _pay(api, key, invoice["id"], TOTAL, method="ach", pending=True)
    assert pending.status_code == 201, pending.text
    held = pending.json()
    assert (held["status"], held["succeeded_at"]) == ("pending", None)
    assert _read(api, key, f"/invoices/{invoice['id']}")["status"] == "open"
    # What it holds is not due twice.
    blocked = _pay(api, key, invoice["id"], 100)
    assert (blocked.status_code, blocked.json()["reason"]) == (409, "exceeds_amount_due")
    assert blocked.json()["amount_due"]["amount"] == 0

    failed = api.rest(
        "POST",
        f"/payments/{held['id']}/fail",
        as_=key,
        json={"reason": "R01: insufficient funds"},
    )
    assert failed.status_code == 200, failed.text
    assert (failed.json()["status"], failed.json()["failure_reason"]) == (
        "failed",
        "R01: insufficient funds",
    )
    again = api.rest("POST", f"/payments/{held['id']}/confirm", as_=key)
    assert (again.status_code, again.json()["reason"]) == (409, "invalid_transition")

    second = _pay(api, key, invoice["id"], TOTAL, method="ach", pending=True)
    assert second.status_code == 201, second.text  # the failed one holds nothing
    confirmed = api.rest("POST", f"/payments/{second.json()['id']}/confirm", as_=key)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
    assert _events(api, confirmed.headers["x-request-id"]) == [
        ("payment.succeeded", second.json()["id"]),
        ("invoice.paid", invoice["id"]),
    ]
    assert _read(api, key, f"/invoices/{invoice['id']}")["status"] == "paid"


def test_refunds_are_records_of_their_own_and_the_invoice_is_owed_again(api: Api) -> None:
    key = api.key()
    invoice = _invoice(api, key)
    payment = _pay(api, key, invoice["id"], TOTAL).json()
    path = f"/payments/{payment['id']}"

    part = api.rest(
        "POST",
        f"{path}/refund",
        as_=key,
        json={"amount": {"amount": 7_000, "currency": "USD"}, "reason": "Parts returned"},
    )
    assert part.status_code == 200, part.text
    assert (part.json()["amount_refunded"]["amount"], part.json()["refunded"]) == (7_000, False)
    assert part.json()["status"] == "succeeded"
    assert _events(api, part.headers["x-request-id"]) == [
        ("payment.refunded", payment["id"]),
        ("invoice.refunded", invoice["id"]),
    ]
    owed = _read(api, key, f"/invoices/{invoice['id']}")
    assert (owed["status"], owed["amount_due"]["amount"]) == ("partially_paid", 7_000)

    too_much = api.rest(
        "POST", f"{path}/refund", as_=key, json={"amount": {"amount": 20_001, "currency": "USD"}}
    )
    assert (too_much.status_code, too_much.json()["reason"]) == (409, "exceeds_refundable")
    assert too_much.json()["refundable"] == {"amount": 20_000, "currency": "USD"}
    euros = api.rest(
        "POST", f"{path}/refund", as_=key, json={"amount": {"amount": 1, "currency": "EUR"}}
    )
    assert euros.status_code == 422, euros.text

    rest = api.rest("POST", f"{path}/refund", as_=key)  # no body: all that is left
    assert rest.status_code == 200, rest.text
    assert (rest.json()["amount_refunded"]["amount"], rest.json()["refunded"]) == (TOTAL, True)
    nothing = api.rest("POST", f"{path}/refund", as_=key)
    assert (nothing.status_code, nothing.json()["reason"]) == (409, "exceeds_refundable")

    refunds = _read(api, key, f"{path}/refunds")["data"]
    assert [(r["amount"]["amount"], r["reason"]) for r in refunds] == [
        (7_000, "Parts returned"),
        (20_000, None),
    ]
    assert all(r["id"].startswith("re_") and r["payment_id"] == payment["id"] for r in refunds)
    back = _read(api, key, f"/invoices/{invoice['id']}")
    assert (back["status"], back["amount_paid"]["amount"]) == ("open", 0)
    # Nothing it was paid is kept now, so it may be voided.
    voided = api.rest(
        "POST", f"/invoices/{invoice['id']}/void", as_=key, json={"reason": "Job cancelled"}
    )
    assert voided.status_code == 200, voided.text
    with api.engine.connect() as connection:
        stored = connection.execute(
            select(col(PaymentRefund.amount)).where(col(PaymentRefund.payment_id) == payment["id"])
        ).all()
    assert sorted(r[0] for r in stored) == [7_000, 20_000]


def test_what_a_payment_is_refused(api: Api) -> None:
    key = api.key()
    draft = _invoice(api, key, finalize=False)
    refused = _pay(api, key, draft["id"], 100)
    assert (refused.status_code, refused.json()["reason"]) == (409, "invoice_not_payable")
    assert refused.json()["state"] == "draft"

    invoice = _invoice(api, key)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"amount": {"amount": 100, "currency": "EUR"}}, "/amount/currency"),
        ({"amount": {"amount": 0, "currency": "USD"}}, "/amount/amount"),
        ({"card": {"brand": "visa"}}, ""),  # a card for a cash payment
        ({"method": "card", "card": {"last4": "42x1"}}, "/card/last4"),
        ({"received_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "/received_at"),
        ({"received_at": "2026-01-01T00:00:00"}, "/received_at"),
    ]
    for over, pointer in cases:
        bad = _pay(api, key, invoice["id"], 100, **over)
        assert bad.status_code == 422, (over, bad.text)
        pointers = [e["pointer"] for e in bad.json()["errors"]]
        assert any(p.endswith(pointer) for p in pointers), (over, pointers)
    assert _read(api, key, f"/invoices/{invoice['id']}")["amount_paid"]["amount"] == 0

    other = api.key()  # another organization's invoice is not found, and not paid
    elsewhere = _pay(api, other, invoice["id"], 100)
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "NOT_FOUND")


def test_only_a_payment_never_counted_may_be_deleted(api: Api) -> None:
    key = api.key()
    invoice = _invoice(api, key)
    succeeded = _pay(api, key, invoice["id"], 1_000).json()
    refused = api.rest("DELETE", f"/payments/{succeeded['id']}", as_=key)
    assert (refused.status_code, refused.json()["reason"]) == (409, "invalid_transition")
    pending = _pay(api, key, invoice["id"], TOTAL - 1_000, pending=True).json()
    deleted = api.rest("DELETE", f"/payments/{pending['id']}", as_=key)
    assert deleted.status_code == 204, deleted.text
    # What it held is free again.
    assert _pay(api, key, invoice["id"], TOTAL - 1_000).status_code == 201
    changed = api.rest(
        "PATCH", f"/payments/{succeeded['id']}", as_=key, json={"reference": "chk-1042"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["reference"], changed.json()["amount"]["amount"]) == ("chk-1042", 1_000)


def test_an_uncollectible_invoice_is_paid_only_in_full(api: Api) -> None:
    key = api.key()
    invoice = _invoice(api, key)
    gave_up = api.rest("POST", f"/invoices/{invoice['id']}/mark_uncollectible", as_=key)
    assert gave_up.status_code == 200, gave_up.text
    assert _pay(api, key, invoice["id"], 5_000).status_code == 201
    assert _read(api, key, f"/invoices/{invoice['id']}")["status"] == "uncollectible"
    assert _pay(api, key, invoice["id"], TOTAL - 5_000).status_code == 201
    assert _read(api, key, f"/invoices/{invoice['id']}")["status"] == "paid"


NESTED = """
query($id: ID!) {
  invoice(id: $id) {
    id status amountPaid { amount }
    payments { id amount { amount } refunds { id amount { amount } } invoice { id } }
    customer { id payments { id } }
  }
}"""


def test_nested_payments_on_graphql(api: Api) -> None:
    key = api.key()
    invoice = _invoice(api, key)
    payment = _pay(api, key, invoice["id"], 3_000).json()
    api.rest("POST", f"/payments/{payment['id']}/refund", as_=key)
    found = api.gql(NESTED, {"id": invoice["id"]}, as_=key)["invoice"]
    assert found["status"] == "OPEN"
    assert found["amountPaid"]["amount"] == 0
    (nested,) = found["payments"]
    assert nested["id"] == payment["id"]
    assert nested["invoice"]["id"] == invoice["id"]
    assert [r["amount"]["amount"] for r in nested["refunds"]] == [3_000]
    assert [p["id"] for p in found["customer"]["payments"]] == [payment["id"]]

    reader = api.key(org=key.organization_id, scopes=["read:invoices"])
    response = api.post(NESTED, {"id": invoice["id"]}, as_=reader).json()
    missing = {(e["path"][-1], e["extensions"]["required_scope"]) for e in response["errors"]}
    assert missing == {("payments", "read:payments"), ("customer", "read:customers")}


def test_a_list_of_50_invoices_with_lines_and_payments_takes_at_most_3_statements(
    api: Api,
) -> None:
    key = api.key()
    for i in range(50):
        invoice = _invoice(api, key)
        for amount in (1_000, 2_000)[: 1 + i % 2]:
            assert _pay(api, key, invoice["id"], amount).status_code == 201
    query = """
    query($first: Int!) {
      invoices(first: $first) {
        nodes {
          id lineItems { description total { amount } }
          payments { id amount { amount } method }
        }
      }
    }"""
    api.gql(query, {"first": 1}, as_=key)
    with counting(api) as one:
        api.gql(query, {"first": 1}, as_=key)
    with counting(api) as statements:
        nodes = api.gql(query, {"first": 50}, as_=key)["invoices"]["nodes"]
    assert len(nodes) == 50
    assert all(len(n["lineItems"]) == 2 for n in nodes)
    assert sorted(len(n["payments"]) for n in nodes) == [1] * 25 + [2] * 25
    assert len(statements) <= LIST_BOUND, _report("GraphQL invoices", statements)
    assert len(statements) == len(one), "statements grow with the page size: an N+1"


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def test_payments_racing_on_one_invoice_never_collect_more_than_is_due(
    api: Api, base_url: str
) -> None:
    """Real concurrent transactions over TCP: eight payments of 60 % of the total at once,
    and eight of 30 % (three of which fit), succeeded and pending alike."""
    key = api.key()
    invoice = _invoice(api, key)
    big = {"invoice_id": invoice["id"], "amount": {"amount": TOTAL * 6 // 10, "currency": "USD"}}
    responses = at_once(
        base_url,
        [("POST", f"{REST}/payments", {**big, "method": "cash"}, key.headers()) for _ in range(8)],
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses]
    refused = [r.json()["reason"] for r in responses if r.status_code == 409]
    assert set(refused) == {"exceeds_amount_due"}

    other = _invoice(api, key)
    small = {"invoice_id": other["id"], "amount": {"amount": TOTAL * 3 // 10, "currency": "USD"}}
    bodies = [{**small, "method": "card", "pending": i % 2 == 0} for i in range(8)]
    responses = at_once(base_url, [("POST", f"{REST}/payments", b, key.headers()) for b in bodies])
    assert sorted(r.status_code for r in responses) == [201] * 3 + [409] * 5
    with api.engine.connect() as connection:
        for inv, count in ((invoice, 1), (other, 3)):
            amounts = connection.execute(
                select(col(Payment.amount)).where(col(Payment.invoice_id) == inv["id"])
            ).all()
            assert len(amounts) == count
            assert sum(a[0] for a in amounts) <= TOTAL
    for inv in (invoice, other):
        stored = _read(api, key, f"/invoices/{inv['id']}")
        assert stored["amount_paid"]["amount"] <= TOTAL
    assert _read(api, key, f"/invoices/{invoice['id']}")["amount_paid"]["amount"] == (
        TOTAL * 6 // 10
    )


def test_refunds_racing_on_one_payment_never_give_back_more_than_it_kept(
    api: Api, base_url: str
) -> None:
    """Four refunds of all that is left, at once: the payment is held by each in turn, so one
    refunds it and the others find nothing left."""
    key = api.key()
    invoice = _invoice(api, key)
    payment = _pay(api, key, invoice["id"], TOTAL).json()
    path = f"{REST}/payments/{payment['id']}/refund"
    responses = at_once(base_url, [("POST", path, b"", key.headers()) for _ in range(4)])
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409], [
        r.text for r in responses
    ]
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"exceeds_refundable"}
    refunds = _read(api, key, f"/payments/{payment['id']}/refunds")["data"]
    assert [r["amount"]["amount"] for r in refunds] == [TOTAL]
    back = _read(api, key, f"/invoices/{invoice['id']}")
    assert (back["status"], back["amount_paid"]["amount"]) == ("open", 0)
