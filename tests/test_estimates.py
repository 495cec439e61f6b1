"""Estimates: priced from the catalog and free text, numbered per tenant (concurrent creates
too), sent, approved (by whom) or declined, edited only in draft, expired by the runner's
chore, one currency per document. The generic matrices (tenancy, audit, lifecycle, parity,
conditional requests, schemathesis) cover it from its declaration."""

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from asteri.app import create_app
from asteri.kit.settings import Settings
from asteri.models import AuditEntry, Event
from asteri.resolvers.estimate import expire_overdue
from asteri.schema.estimate import snapshot
from tests.factories import REST, Api, Credential, create_service, run_chore
from tests.servers import at_once, serving


def _new_customer(api: Api, key: Credential) -> str:
    made = api.rest(
        "POST", "/customers", as_=key, json={"display_name": f"Est {secrets.token_hex(3)}"}
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _free(description: str, amount: int, currency: str = "USD", **over: Any) -> dict[str, Any]:
    """A free-text line."""
    return {
        "description": description,
        "unit_price": {"amount": amount, "currency": currency},
        **over,
    }


def _body(customer: str, **over: Any) -> dict[str, Any]:
    return {
        "customer_id": customer,
        "currency": "USD",
        "tax_rate_bps": 825,
        "valid_until": "2029-12-31",
        "line_items": [
            {
                "description": "Haul away the old unit",
                "unit_price": {"amount": 7500, "currency": "USD"},
            }
        ],
        **over,
    }


def _create(api: Api, key: Credential, body: dict[str, Any]) -> dict[str, Any]:
    made = api.rest("POST", "/estimates", as_=key, json=body)
    assert made.status_code == 201, made.text
    estimate: dict[str, Any] = made.json()
    return estimate


def _act(api: Api, cred: Credential, estimate: str, action: str, body: Any = None) -> Any:
    return api.rest("POST", f"/estimates/{estimate}/{action}", as_=cred, json=body)


def test_lines_are_priced_half_even_per_line_and_totals_add_up(api: Api) -> None:
    key = api.key()
    service = create_service(
        api, as_=key, unitPrice={"amount": 12900, "currency": "USD"}, taxable=True
    )
    estimate = _create(
        api,
        key,
        _body(
            _new_customer(api, key),
            line_items=[
                {"service_id": service["id"], "quantity": 1.5, "discount": 350},
                {
                    "description": "Haul away the old unit",
                    "unit_price": {"amount": 7500, "currency": "USD"},
                    "taxable": False,
                },
                {
                    "description": "Filter",
                    "unit_price": {"amount": 1, "currency": "USD"},
                    "quantity": 0.5,
                },
            ],
        ),
    )
    assert estimate["status"] == "draft"
    catalog, haul, filter_ = estimate["line_items"]
    # 1.5 x 12900 = 19350, less 350 = 19000; tax 8.25 % = 1567.5 -> 1568 (half-even: to even)
    assert (catalog["description"], catalog["subtotal"]["amount"]) == (service["name"], 19350)
    assert (catalog["discount"]["amount"], catalog["tax"]["amount"]) == (350, 1568)
    assert catalog["total"]["amount"] == 20568
    assert (haul["tax"]["amount"], haul["total"]["amount"]) == (0, 7500)
    # 0.5 x 1 = 0.5 -> 0 (half-even), no tax on nothing
    assert (filter_["subtotal"]["amount"], filter_["total"]["amount"]) == (0, 0)
    assert estimate["subtotal"] == {"amount": 19350 + 7500, "currency": "USD"}
    assert estimate["discount_total"]["amount"] == 350
    assert estimate["tax_total"]["amount"] == 1568
    assert estimate["total"]["amount"] == 19350 + 7500 - 350 + 1568
    # The catalog's later price change does not reach a written estimate.
    changed = api.rest(
        "PATCH",
        f"/services/{service['id']}",
        as_=key,
        json={"unit_price": {"amount": 99900, "currency": "USD"}},
    )
    assert changed.status_code == 200, changed.text
    read = api.rest("GET", f"/estimates/{estimate['id']}", as_=key).json()
    assert read["line_items"][0]["unit_price"]["amount"] == 12900


@pytest.mark.parametrize(
    ("over", "pointer"),
    [
        (
            {
                "line_items": [
                    {"description": "x", "unit_price": {"amount": 100, "currency": "EUR"}}
                ]
            },
            "/line_items/0/unit_price/currency",
        ),
        (
            {
                "line_items": [
                    {
                        "description": "x",
                        "unit_price": {"amount": 100, "currency": "USD"},
                        "discount": 101,
                    }
                ]
            },
            "/line_items/0/discount",
        ),
        ({"line_items": []}, "/line_items"),
        ({"line_items": [{"description": "no price"}]}, "/line_items/0/unit_price"),
        ({"tax_rate_bps": 10_001}, "/tax_rate_bps"),
        ({"customer_id": "cus_0000000000000000000000"}, "/customer_id"),
    ],
)
def test_a_bad_estimate_is_a_422_naming_the_field(
    api: Api, over: dict[str, Any], pointer: str
) -> None:
    key = api.key()
    refused = api.rest("POST", "/estimates", as_=key, json=_body(_new_customer(api, key), **over))
    assert refused.status_code == 422, refused.text
    assert pointer in [e["pointer"] for e in refused.json()["errors"]]


def test_a_catalog_service_in_another_currency_is_refused(api: Api) -> None:
    key = api.key()
    service = create_service(api, as_=key, unitPrice={"amount": 5000, "currency": "EUR"})
    refused = api.rest(
        "POST",
        "/estimates",
        as_=key,
        json=_body(_new_customer(api, key), line_items=[{"service_id": service["id"]}]),
    )
    assert refused.status_code == 422, refused.text
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/line_items/0/service_id"]


def test_numbers_run_per_tenant_and_never_change(api: Api) -> None:
    key, other = api.key(), api.key()
    mine = [_create(api, key, _body(_new_customer(api, key)))["number"] for _ in range(3)]
    assert mine == ["EST-0001", "EST-0002", "EST-0003"]
    assert _create(api, other, _body(_new_customer(api, other)))["number"] == "EST-0001"
    test_env = api.key(org=key.organization_id, environment="test")
    assert _create(api, test_env, _body(_new_customer(api, test_env)))["number"] == "EST-0001"


def test_send_then_approve_records_who_approved(api: Api) -> None:
    key = api.key()
    owner = api.session(org_key=key)
    first, second = (_create(api, key, _body(_new_customer(api, key))) for _ in range(2))
    for estimate in (first, second):
        sent = _act(api, key, estimate["id"], "send")
        assert (sent.status_code, sent.json()["status"]) == (200, "sent"), sent.text
        assert sent.json()["sent_at"] is not None

    keyless = _act(api, key, first["id"], "approve", {})
    assert keyless.status_code == 422, keyless.text
    assert keyless.json()["errors"][0]["pointer"] == "/customer_name"
    half = _act(api, key, first["id"], "approve", {"customer_name": "Ana Rivera"})
    assert half.status_code == 422, half.text
    by_customer = _act(
        api, key, first["id"], "approve", {"customer_name": "Ana Rivera", "channel": "phone"}
    )
    assert by_customer.status_code == 200, by_customer.text
    assert by_customer.json()["status"] == "approved"
    assert by_customer.json()["approval"] == {
        "by": "customer",
        "team_member_id": None,
        "name": "Ana Rivera",
        "channel": "phone",
    }
    by_member = _act(api, owner, second["id"], "approve", {})
    assert by_member.status_code == 200, by_member.text
    approval = by_member.json()["approval"]
    assert (approval["by"], approval["team_member_id"].startswith("tm_")) == ("member", True)

    with api.engine.connect() as connection:
        types = (
            connection.execute(
                select(col(Event.type))
                .where(col(Event.resource_id) == first["id"])
                .order_by(col(Event.id))
            )
            .scalars()
            .all()
        )
    assert types == ["estimate.created", "estimate.sent", "estimate.approved"]


def test_only_a_draft_changes_and_a_sent_one_is_only_answered(api: Api) -> None:
    key = api.key()
    estimate = _create(api, key, _body(_new_customer(api, key)))
    changed = api.rest(
        "PATCH", f"/estimates/{estimate['id']}", as_=key, json={"tax_rate_bps": 0, "notes": "Net"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["tax_total"]["amount"], changed.json()["notes"]) == (0, "Net")
    assert changed.json()["number"] == estimate["number"]
    assert _act(api, key, estimate["id"], "send").status_code == 200
    for method, body in (("PATCH", {"notes": "late"}), ("DELETE", None)):
        refused = api.rest(method, f"/estimates/{estimate['id']}", as_=key, json=body)
        assert refused.status_code == 409, refused.text
        assert (refused.json()["reason"], refused.json()["state"]) == ("invalid_transition", "sent")
    declined = _act(api, key, estimate["id"], "decline", {"reason": "Too expensive this year."})
    assert declined.status_code == 200, declined.text
    assert declined.json()["decline_reason"] == "Too expensive this year."
    again = _act(api, key, estimate["id"], "approve", {"customer_name": "A", "channel": "email"})
    assert (again.status_code, again.json()["reason"]) == (409, "invalid_transition")


def test_the_runner_expires_sent_estimates_past_their_day(api: Api, settings: Settings) -> None:
    key = api.key()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    today = datetime.now(UTC).date().isoformat()
    overdue = _create(api, key, _body(_new_customer(api, key), valid_until=yesterday))
    current = _create(api, key, _body(_new_customer(api, key), valid_until=today))
    draft = _create(api, key, _body(_new_customer(api, key), valid_until=yesterday))
    for estimate in (overdue, current):
        assert _act(api, key, estimate["id"], "send").status_code == 200

    assert sum(run_chore(settings, expire_overdue, snapshot)) >= 1
    states = {
        e["id"]: e["status"]
        for e in (
            api.rest("GET", f"/estimates/{x['id']}", as_=key).json()
            for x in (overdue, current, draft)
        )
    }
    assert states == {overdue["id"]: "expired", current["id"]: "sent", draft["id"]: "draft"}
    with api.engine.connect() as connection:
        entry = connection.execute(
            select(AuditEntry).where(
                col(AuditEntry.resource_id) == overdue["id"],
                col(AuditEntry.action) == "estimate.expired",
            )
        ).one()
    assert (entry.actor_type, entry.actor_id) == ("system", "estimates")
    late = _act(api, key, overdue["id"], "approve", {"customer_name": "A", "channel": "email"})
    assert (late.status_code, late.json()["state"]) == (409, "expired")


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def test_concurrent_creates_take_distinct_numbers_without_gaps(api: Api, base_url: str) -> None:
    """Real concurrent transactions over TCP: twelve creates at once in one tenant."""
    key = api.key()
    customer = _new_customer(api, key)
    body = _body(customer)
    responses = at_once(
        base_url, [("POST", f"{REST}/estimates", body, key.headers()) for _ in range(12)]
    )
    assert sorted(r.status_code for r in responses) == [201] * 12, [r.text for r in responses]
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == [f"EST-{i:04d}" for i in range(1, 13)]
