"""The demo's month of money: estimates in every state, invoices open, partly paid, paid, void
and uncollectible, payments by card, ACH, cash and check (one pending, one failed), and a
refund, for the demo's customers and catalog (``demo.py``).

Like the rest of the demo, all of it goes in through the public schema (``run``: the demo's
one transaction). What the API dates by its own clock (when a document was written, sent,
finalized) is today; what a caller may date is spread over the past month: validity days, due
dates and when payments were received. ``expired`` is the background runner's to reach: the
month's overdue estimate is sent with its validity day already past, and ``expire_estimates``
runs the runner's chore once after the seed commits.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from asteri.kit.db import create_operator_engine, utcnow
from asteri.kit.naming import camel, pascal
from asteri.kit.settings import Settings
from asteri.resolvers.crud import SampleContext
from asteri.resolvers.estimate import ESTIMATES, expire_overdue
from asteri.schema.estimate import snapshot as estimate_snapshot

__all__ = ["Pay", "Run", "expire_estimates", "seed_month"]

Run = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
ZONE = ZoneInfo("America/Chicago")  # Austin, TX
TAX = 825  # Austin's combined sales tax, in basis points (untaxable lines pay none)

# A step of a document or payment: an action, or an action and its input.
Step = str | tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Pay:
    """A payment against the invoice the steps have reached: ``share`` of what is still due
    (pending payments hold their part), received ``days_ago`` at ``at`` (Austin time); then
    the payment's own steps (``confirm``, ``fail``, ``refund``)."""

    method: str
    days_ago: int
    share: float = 1.0
    at: str = "10:30"
    pending: bool = False
    fields: dict[str, Any] | None = None  # card, reference, notes
    then: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Document:
    """An estimate or invoice, as created, and the steps that bring it to its state. After
    ``convert``, the steps are the new invoice's."""

    resource: str  # "estimate" or "invoice"
    input: dict[str, Any]
    steps: tuple[Step | Pay, ...] = ()


def _month(ids: dict[str, list[str]]) -> list[Document]:
    """The past month's money for the demo's customers (Rivera Family, Northwind Offices, Kim
    Nguyen) and services (AC tune-up, furnace diagnostic visit, water heater installation)."""
    rivera, northwind, kim = ids["customer"]
    tune_up, furnace, water_heater = ids["service"]
    today = datetime.now(ZONE).date()

    def day(offset: int) -> str:
        return (today + timedelta(days=offset)).isoformat()

    def service(id_: str, quantity: float = 1) -> dict[str, Any]:
        return {"serviceId": id_, "quantity": quantity}

    def item(description: str, cents: int, *, taxable: bool = True, quantity: float = 1) -> Any:
        return {
            "description": description,
            "unitPrice": {"amount": cents, "currency": "USD"},
            "quantity": quantity,
            "taxable": taxable,
        }

    def priced(customer: str, lines: list[Any]) -> dict[str, Any]:
        return {"customerId": customer, "currency": "USD", "taxRateBps": TAX, "lineItems": lines}

    def estimate(
        customer: str, valid_for: int, lines: list[Any], *steps: Step | Pay, **fields: Any
    ) -> Document:
        input_ = {**priced(customer, lines), "validUntil": day(valid_for), **fields}
        return Document("estimate", input_, steps)

    def invoice(customer: str, lines: list[Any], *steps: Step | Pay, **fields: Any) -> Document:
        return Document("invoice", {**priced(customer, lines), **fields}, steps)

    def because(action: str, reason: str) -> Step:
        return (action, {"reason": reason})

    def approve(name: str, channel: str) -> Step:
        return ("approve", {"customerName": name, "channel": channel})

    def refund(cents: int, reason: str) -> Step:
        return ("refund", {"amount": {"amount": cents, "currency": "USD"}, "reason": reason})

    sample = ESTIMATES.sample_input(SampleContext(id_of=lambda r: ids[r.name][0]))
    return [
        # Estimates, one in every state.
        estimate(
            northwind,
            30,
            [service(tune_up, 3), item("Pleated filters 20x25x4 (case of 6)", 8400)],
            notes="Quarterly maintenance for the three rooftop units.",
        ),
        estimate(
            kim,
            21,
            [
                service(water_heater),
                item("Expansion tank and fittings", 11800),
                item("City of Austin plumbing permit", 7500, taxable=False),
            ],
            "send",
            notes="50-gallon gas unit; the old one is 14 years old and leaking at the base.",
        ),
        Document(  # the estimates' own sample
            "estimate",
            {**sample, "validUntil": day(25)},
            ("send", approve("Ana Rivera", "EMAIL")),
        ),
        estimate(
            northwind,
            14,
            [service(water_heater, 2), item("Crane rental (half day)", 65000)],
            "send",
            because("decline", "Going with the building management's preferred contractor."),
            notes="Replace both break-room water heaters.",
        ),
        # Sent with its validity day already past: the runner's chore expires it.
        estimate(
            kim, -6, [service(furnace), item("Heat exchanger camera inspection", 14900)], "send"
        ),
        # Approved on the phone and invoiced; paid by card, the igniter refunded (the home
        # warranty covers it: charged by mistake) and paid by the warranty company's check.
        estimate(
            rivera,
            10,
            [
                service(furnace),
                item("Hot-surface igniter (part)", 6450),
                item("Igniter replacement labor", 9500, taxable=False),
            ],
            "send",
            approve("Ana Rivera", "PHONE"),
            "convert",
            "finalize",
            Pay(
                "CARD",
                12,
                at="16:05",
                fields={"card": {"brand": "VISA", "last4": "4242"}, "reference": "ch_3QdmA1"},
                then=(refund(6982, "Charged by mistake: the home warranty covers the igniter."),),
            ),
            Pay("CHECK", 4, fields={"reference": "Check 104482", "notes": "Home warranty."}),
            notes="Furnace short-cycles: the igniter is cracked.",
        ),
        # Invoices made directly.
        invoice(
            northwind,
            [service(tune_up, 3), item("Condensate pump replacement", 21500)],
            "finalize",
            Pay("ACH", 6, share=0.5, fields={"reference": "ACH trace 091000019004471"}),
            Pay("ACH", 1, share=0.5, pending=True, fields={"notes": "Second installment."}),
            paymentTerms="NET_30",
            dueDate=day(18),
        ),
        invoice(
            kim,
            [service(furnace), item("Flame sensor cleaning", 4500, taxable=False)],
            "finalize",
            Pay("CASH", 20, at="11:40", fields={"notes": "Paid the technician on site."}),
            paymentTerms="DUE_ON_RECEIPT",
            dueDate=day(-20),
        ),
        invoice(
            northwind,
            [service(water_heater), item("City of Austin plumbing permit", 7500)],
            "finalize",
            Pay("CHECK", 9, fields={"reference": "Check 2231"}),
            paymentTerms="NET_15",
            dueDate=day(-2),
        ),
        invoice(  # Monday's completed tune-up (the week's first appointment): open, net 15
            rivera,
            [service(tune_up)],
            "finalize",
            appointmentId=ids["appointment"][0],
            paymentTerms="NET_15",
        ),
        invoice(
            rivera,
            [service(tune_up)],
            "finalize",
            because("void", "Issued twice: the tune-up is billed with its appointment."),
            paymentTerms="NET_15",
        ),
        invoice(
            kim,
            [item("After-hours leak repair", 18500), item("Copper fittings", 4260)],
            "finalize",
            Pay(
                "CARD",
                22,
                at="21:15",
                pending=True,
                fields={"card": {"brand": "MASTERCARD", "last4": "0005"}},
                then=(because("fail", "Card declined: insufficient funds (code 51)."),),
            ),
            "mark_uncollectible",
            paymentTerms="DUE_ON_RECEIPT",
            dueDate=day(-24),
        ),
        invoice(  # still a draft
            northwind,
            [item("Smart thermostat, installed", 24900, quantity=3)],
            notes="To send with the quarterly maintenance.",
        ),
    ]


# What each mutation's answer needs: a converted estimate's invoice, what an invoice still
# has due, what a payment has had refunded.
_SELECTION = {
    "estimate": "id invoiceId",
    "invoice": "id amountDue { amount }",
    "payment": "id amountRefunded { amount }",
}


def _mutation(
    resource: str, action: str, id_: str | None, input_: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """``createInvoice(input:)``, ``finalizeInvoice(id:)``, ``failPayment(id:, input:)``…"""
    field = f"{action}_{resource}"
    name = pascal(field)
    given = {"id": ("ID!", id_), "input": (f"{name}Input!", input_)}
    used = {key: (type_, value) for key, (type_, value) in given.items() if value is not None}
    params = ", ".join(f"${key}: {type_}" for key, (type_, _) in used.items())
    args = ", ".join(f"{key}: ${key}" for key in used)
    document = f"mutation({params}) {{ {camel(field)}({args}) {{ {_SELECTION[resource]} }} }}"
    return document, {key: value for key, (_, value) in used.items()}


def _received(days_ago: int, at: str) -> str:
    """A time in the past (``receivedAt`` may not be in the future)."""
    day = datetime.now(ZONE).date() - timedelta(days=days_ago)
    when = datetime.combine(day, time.fromisoformat(at), ZONE).astimezone(UTC)
    return min(when, utcnow() - timedelta(minutes=1)).isoformat()


async def _pay(run: Run, invoice_id: str, pay: Pay, due: int) -> int:
    """Record ``pay`` and its steps; what is still due after them."""
    amount = round(due * pay.share)
    payment = await run(
        *_mutation(
            "payment",
            "create",
            None,
            {
                "invoiceId": invoice_id,
                "amount": {"amount": amount, "currency": "USD"},
                "method": pay.method,
                "receivedAt": _received(pay.days_ago, pay.at),
                "pending": pay.pending,
                **(pay.fields or {}),
            },
        )
    )
    due, refunded = due - amount, 0
    for step in pay.then:
        action, input_ = (step, None) if isinstance(step, str) else step
        answer = await run(*_mutation("payment", action, payment["id"], input_))
        if action == "fail":  # what it held is due again
            due += amount
        due += answer["amountRefunded"]["amount"] - refunded
        refunded = answer["amountRefunded"]["amount"]
    return due


async def seed_month(run: Run, ids: dict[str, list[str]]) -> None:
    """Every document of the month and its steps, through ``run`` (the demo's transaction)."""
    for document in _month(ids):
        resource = document.resource
        answer = await run(*_mutation(resource, "create", None, document.input))
        subject, due = answer["id"], 0
        for step in document.steps:
            if isinstance(step, Pay):
                due = await _pay(run, subject, step, due)
                continue
            action, input_ = (step, None) if isinstance(step, str) else step
            answer = await run(*_mutation(resource, action, subject, input_))
            if action == "convert":  # from here on, the steps are the new invoice's
                resource, subject = "invoice", answer["invoiceId"]
            elif resource == "invoice":
                due = answer["amountDue"]["amount"]


async def expire_estimates(settings: Settings) -> int:
    """The runner's estimate expiry (``workers/runner.py``), once: after the demo's seed has
    committed, on the operator engine, as the runner runs it. Idempotent, and the same pass
    any runner makes every few minutes (across every tenant: any sent estimate past its day
    is expired, the demo's among them). How many it expired."""
    engine = create_operator_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await expire_overdue(conn, estimate_snapshot, now=utcnow())
    finally:
        await engine.dispose()
