"""Payments: money received against an invoice, and what is given back.

A payment is recorded against a finalized invoice, in its currency, by a method (card, ACH,
cash, check, other; a card's brand and last four digits when known). It is ``succeeded`` at
once, or ``pending`` while a processor settles it (``confirm`` → ``succeeded``, ``fail`` →
``failed``, with why). A succeeded payment may be refunded, in part or in full, by refunds
that are records of their own (``payment_refunds``, ``re_…``); ``amount_refunded`` sums
them. Only a pending or failed payment may be deleted; a succeeded one is refunded instead.

**The invoice follows, in the same transaction** (``invoice.settle``): what it counts as paid
is what its succeeded payments keep after their refunds, and its status (``partially_paid``,
``paid``) and events follow from that. **No over-collection:** every write that adds to what
an invoice collects first locks the invoice's row (``invoice.hold_for_payment``), then checks,
with what it wrote in view, that its succeeded payments and its pending ones together come to
no more than its total; a payment that would pass it is refused (409
``exceeds_amount_due``, naming what is still due). Concurrent payments to one invoice take
turns at that lock, and each sees what the one before committed (PostgreSQL READ COMMITTED
re-reads each statement; SQLite has one writer at a time), so of two that together exceed the
total, exactly one lands.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from pydantic import Field as PydanticField
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.authz.tenancy import scoped, stamp
from asteri.kit.db import utcnow
from asteri.kit.errors import BadUserInput, Conflict, FieldError
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.kit.pagination import Page
from asteri.models.invoice import Invoice
from asteri.models.payment import Payment, PaymentRefund
from asteri.resolvers import crud, money
from asteri.resolvers.crud import Resource, SampleContext, Snapshots, Sort
from asteri.resolvers.invoice import INVOICES, hold_for_payment, settle
from asteri.resolvers.lifecycle import (
    Entering,
    Lifecycle,
    Transition,
    require_action_state,
    require_state,
)
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import non_blank, validate

__all__ = [
    "PAYMENTS",
    "CardBrand",
    "PaymentFields",
    "PaymentFilter",
    "PaymentMethod",
    "PaymentOrder",
    "PaymentStatus",
    "RefundPaymentFields",
    "create",
    "delete_payment",
    "list_payments",
    "read",
    "refund",
    "refunds_of",
    "update",
]


class PaymentStatus(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PaymentMethod(Enum):
    CARD = "card"
    ACH = "ach"
    CASH = "cash"
    CHECK = "check"
    OTHER = "other"


class CardBrand(Enum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    DINERS = "diners"
    JCB = "jcb"
    UNIONPAY = "unionpay"
    OTHER = "other"


# A received time may run this far ahead of our clock (the caller's clock may be fast).
CLOCK_SKEW = timedelta(minutes=5)


async def _then(uow: UnitOfWork, row: Payment, entering: Entering, snapshots: Snapshots) -> None:
    """A payment that succeeds is counted by its invoice, which must still take payments; one
    that fails frees what it held of the amount due (the sum of pending payments: nothing
    stored changes)."""
    if entering.state == "succeeded":
        invoice = await hold_for_payment(uow, row.invoice_id)
        await settle(uow, invoice, snapshots(INVOICES), adding=0)


def _columns(entering: Entering) -> dict[str, Any]:
    columns: dict[str, Any] = {"status": entering.state}
    if entering.state == "succeeded":
        columns["succeeded_at"] = entering.at
    elif entering.state == "failed":
        columns |= {"failed_at": entering.at, "failure_reason": entering.reason}
    return columns


LIFECYCLE = Lifecycle(
    states=tuple(s.value for s in PaymentStatus),
    transitions=(
        Transition(
            "confirm",
            sources=("pending",),
            target="succeeded",
            event="succeeded",
            description="The money arrived: the invoice counts it as paid.",
        ),
        Transition(
            "fail",
            sources=("pending",),
            target="failed",
            event="failed",
            description="The money did not arrive (declined, returned, bounced); the reason is "
            "kept, and the invoice is owed it again.",
            reason=True,
        ),
    ),
    state=lambda row: row.status,
    columns=_columns,
    public_fields={"failure_reason": "failure_reason"},
    then=_then,
)


def _sample(s: SampleContext) -> dict[str, Any]:
    return {
        "invoiceId": s.id_of(INVOICES),
        "amount": {"amount": 5000, "currency": "USD"},
        "method": "CARD",
        "card": {"brand": "VISA", "last4": "4242"},
        "reference": f"ch_3QxR8tLkd2{s.distinct}",
        "pending": True,  # a card charge being settled: ``states[0]``, as a new object's is
    }


PAYMENTS = Resource(
    model=Payment,
    name="payment",
    prefix="pay",
    lifecycle=LIFECYCLE,
    sample=_sample,
    change={"notes": "Paid at the front desk.", "reference": "chk-1042"},
    invalid={"amount": {"amount": 0, "currency": "USD"}},
    actions=("refund",),
    action_events={"refund": "refunded"},
    action_sources={"refund": ("succeeded",)},
    action_samples={
        "refund": lambda _s: {
            "amount": {"amount": 1000, "currency": "USD"},
            "reason": "Goodwill credit for the late arrival.",
        }
    },
    parts=("refunds",),
    part_actions={"refunds": "refund"},
    refers_to={"invoice": "open"},
)


class PaymentMoney(BaseModel):
    """An amount received or given back: at least one minor unit."""

    model_config = ConfigDict(extra="forbid")

    amount: Annotated[int, PydanticField(strict=True, ge=1, le=money.MAX_DOCUMENT_TOTAL)]
    currency: money.CurrencyCode


class CardFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand: CardBrand | None = None
    last4: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] | None = None


class PaymentFields(BaseModel):
    """A payment as recorded. Only its ``notes`` and ``reference`` change later."""

    model_config = ConfigDict(extra="forbid")

    invoice_id: Annotated[str, non_blank(40)]
    amount: PaymentMoney
    method: PaymentMethod
    card: CardFields | None = None
    reference: Annotated[str, non_blank(200)] | None = None
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    received_at: datetime | None = None  # else: now
    pending: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> "PaymentFields":
        if self.card is not None and self.method is not PaymentMethod.CARD:
            raise ValueError("card details are for a CARD payment")
        return self


class RefundPaymentFields(BaseModel):
    """A refund: all that is left of the payment unless an amount is given."""

    model_config = ConfigDict(extra="forbid")

    amount: PaymentMoney | None = None
    reason: Annotated[str, non_blank(500)] | None = None


class PaymentOrder(Enum):
    CREATED_AT_DESC = Sort("created_at_desc", Payment.created_at, descending=True)  # type: ignore[arg-type]
    CREATED_AT_ASC = Sort("created_at_asc", Payment.created_at, descending=False)  # type: ignore[arg-type]
    RECEIVED_AT_DESC = Sort("received_at_desc", Payment.received_at, descending=True)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PaymentFilter:
    """Also the GraphQL ``PaymentFilter`` (``schema.inputs.filter_input``)."""

    status: PaymentStatus | None = field(
        default=None, metadata={"description": "Only payments in this state."}
    )
    invoice_id: str | None = field(
        default=None, metadata={"description": "One invoice's payments (`inv_…`)."}
    )
    customer_id: str | None = field(
        default=None, metadata={"description": "One customer's payments (`cus_…`)."}
    )
    method: PaymentMethod | None = field(
        default=None, metadata={"description": "Only payments made this way."}
    )
    received_since: datetime | None = field(
        default=None, metadata={"description": "Received at or after this time."}
    )
    received_before: datetime | None = field(
        default=None, metadata={"description": "Received before this time."}
    )
    updated_since: datetime | None = None


def _where(f: PaymentFilter) -> list[ColumnElement[bool]]:
    return [
        *crud.equal_to(
            f,
            {
                "status": col(Payment.status),
                "invoice_id": col(Payment.invoice_id),
                "customer_id": col(Payment.customer_id),
                "method": col(Payment.method),
            },
        ),
        *crud.occurred_between(
            col(Payment.received_at),
            f.received_since,
            f.received_before,
            names=("receivedSince", "receivedBefore"),
        ),
        *crud.updated_since(col(Payment.updated_at), f.updated_since),
    ]


async def list_payments(
    uow: UnitOfWork, *, filter: PaymentFilter, sort: PaymentOrder, first: int, after: str | None
) -> Page[Payment]:
    return await crud.list_page(
        uow, PAYMENTS, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    return await crud.read(uow, PAYMENTS, public_id)


def _in_currency(amount: PaymentMoney, invoice: Invoice, pointer: str) -> None:
    money.same_currency([(pointer, amount.currency)], invoice.currency)


def _received_at(value: datetime | None, now: datetime) -> datetime:
    received = crud.aware(value, "/input/receivedAt")
    if received is None:
        return now
    if received > now + CLOCK_SKEW:
        raise BadUserInput(
            "`receivedAt` is in the future: a payment is recorded once it is received.",
            errors=[FieldError("/input/receivedAt", "is in the future")],
        )
    return received


async def create(uow: UnitOfWork, data: dict[str, Any], snapshots: Snapshots) -> Payment:
    """Record a payment: its invoice is held first, so the balance it is checked against is
    the one it lands on (``settle``)."""
    fields = validate(PaymentFields, data)
    now = utcnow()
    received = _received_at(fields.received_at, now)
    invoice = await hold_for_payment(uow, fields.invoice_id)
    _in_currency(fields.amount, invoice, "/input/amount/currency")
    succeeded = not fields.pending
    card = fields.card or CardFields()
    row = Payment(
        invoice_id=invoice.public_id,
        customer_id=invoice.customer_id,
        status="succeeded" if succeeded else "pending",
        amount=fields.amount.amount,
        currency=invoice.currency,
        method=fields.method.value,
        card_brand=None if card.brand is None else card.brand.value,
        card_last4=card.last4,
        reference=fields.reference,
        notes=fields.notes,
        received_at=received,
        succeeded_at=now if succeeded else None,
        organization_id=0,
        environment="",
        public_id="",
    )
    snapshot = snapshots(PAYMENTS)
    created = await crud.create(uow, PAYMENTS, row, snapshot, fields=sorted(data))
    if succeeded:  # recorded as it arrived: it succeeded as it was made
        crud.record(uow, PAYMENTS, created, "succeeded", ["status"], snapshot)
    await settle(uow, invoice, snapshots(INVOICES), adding=created.amount)
    return created


async def update(
    uow: UnitOfWork, public_id: str, changes: dict[str, Any], snapshots: Snapshots
) -> Payment:
    """Its notes and reference (a check's number learned later); what was received stays."""
    row: Payment = await crud.get(uow, PAYMENTS, public_id)
    current = {
        "invoice_id": row.invoice_id,
        "amount": {"amount": row.amount, "currency": row.currency},
        "method": row.method,
        "reference": row.reference,
        "notes": row.notes,
    }
    fields = validate(PaymentFields, {**current, **changes})
    updates = {"reference": fields.reference, "notes": fields.notes}
    updated: Payment = await crud.update(
        uow, PAYMENTS, row, {k: updates[k] for k in changes}, snapshots(PAYMENTS)
    )
    return updated


async def delete_payment(uow: UnitOfWork, public_id: str, snapshots: Snapshots) -> Payment:
    """A payment recorded in error, never counted: pending or failed. A succeeded one is
    refunded instead, so what the invoice was paid keeps its history."""
    row: Payment = await crud.get(uow, PAYMENTS, public_id)
    require_state(PAYMENTS, row, "delete", ("pending", "failed"))
    return await crud.soft_delete(uow, PAYMENTS, row, snapshots(PAYMENTS))


async def refund(
    uow: UnitOfWork, public_id: str, data: dict[str, Any], snapshots: Snapshots
) -> Payment:
    """Give back part or all of what is left of a succeeded payment: a refund record, the
    payment's ``amount_refunded``, and its invoice's balance, in one transaction."""
    fields = validate(RefundPaymentFields, data)
    row: Payment = await crud.get(uow, PAYMENTS, public_id)
    require_action_state(PAYMENTS, row, "refund")
    left = row.amount - row.amount_refunded
    amount = left if fields.amount is None else fields.amount.amount
    if fields.amount is not None:
        money.same_currency([("/input/amount/currency", fields.amount.currency)], row.currency)
    if amount > left or left == 0:
        raise Conflict(
            f"Payment `{row.public_id}` has {money.format_amount(left, row.currency)} "
            f"{row.currency} left to refund.",
            reason="exceeds_refundable",
            refundable={"amount": left, "currency": row.currency},
        )
    invoice = await hold_for_payment(uow, row.invoice_id)
    now = utcnow()
    record = PaymentRefund(
        payment_id=row.public_id,
        amount=amount,
        currency=row.currency,
        reason=fields.reason,
        public_id=new_public_id(IdPrefix.PAYMENT_REFUND),
        created_at=now,
        updated_at=now,
        organization_id=0,
        environment="",
    )
    uow.session.add(stamp(record, uow.principal))
    refunded: Payment = await crud.update(
        uow,
        PAYMENTS,
        row,
        {"amount_refunded": row.amount_refunded + amount},
        snapshots(PAYMENTS),
        verb=PAYMENTS.event_of("refund"),
    )
    await settle(uow, invoice, snapshots(INVOICES), adding=0)
    return refunded


async def refunds_of(
    uow: UnitOfWork, payment_ids: list[str], *, first: int
) -> list[list[PaymentRefund]]:
    """Each payment's refunds, oldest first, in one statement (``Payment.refunds``)."""
    statement = (
        scoped(PaymentRefund)
        .where(col(PaymentRefund.payment_id).in_(payment_ids))
        .order_by(col(PaymentRefund.created_at), col(PaymentRefund.public_id))
    )
    return await crud.first_of_each(uow, statement, payment_ids, key="payment_id", first=first)
