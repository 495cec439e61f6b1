"""Invoices: what a customer owes, when it is due, and its handoff to accounting.

The lifecycle is ``draft → open`` (``finalize``: the due date follows from the payment terms
unless given, and the accounting export becomes ``pending``), then ``void`` (from draft or
open, never once a payment has succeeded), or ``uncollectible``. ``partially_paid`` and
``paid`` are reached by payments alone, never set by hand. Only a draft may be changed or
deleted. An open invoice past its due date is found by the background runner once:
``invoice.overdue``, by the system.

An invoice is made directly, from an approved estimate (``convert_estimate``: its lines as
quoted, once only), or by completing an appointment that asks for it
(``draft_for_appointment``: its approved estimate converted, else its services priced), and
its lines are a priced document's (``resolvers/documents.py``).

The accounting handoff: ``export_status`` is ``pending`` from finalizing (``request_export``
asks again, ``invoice.export_requested``); an accounting integration, holding
``write:invoices``, hears ``invoice.export_requested`` (on finalizing, too), lists
``export_status=pending`` and answers with ``record_export``
(``exported`` with its ``external_id``, or ``failed`` with an error).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, StringConstraints, model_validator
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.authz.tenancy import scoped, tenant, tenant_terms
from asteri.kit.db import utcnow
from asteri.kit.errors import BadUserInput, Conflict, FieldError
from asteri.kit.pagination import Page
from asteri.models.appointment import Appointment
from asteri.models.estimate import Estimate
from asteri.models.invoice import Invoice
from asteri.models.payment import Payment
from asteri.resolvers import crud, money
from asteri.resolvers.crud import Resource, SampleContext, Snapshot, Snapshots, Sort
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.documents import (
    DocumentFields,
    priced_columns,
    stored_lines,
    sweep,
    update_document,
)
from asteri.resolvers.estimate import ESTIMATES
from asteri.resolvers.lifecycle import (
    Entering,
    Lifecycle,
    Transition,
    require_action_state,
    require_state,
)
from asteri.resolvers.numbering import issue_number
from asteri.resolvers.service import SERVICES
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import non_blank, validate

__all__ = [
    "INVOICES",
    "ExportStatus",
    "InvoiceFields",
    "InvoiceFilter",
    "InvoiceOrder",
    "InvoiceStatus",
    "PaymentTerms",
    "convert_estimate",
    "create",
    "delete_invoice",
    "draft_for_appointment",
    "hold_for_payment",
    "list_invoices",
    "mark_overdue",
    "read",
    "record_export",
    "request_export",
    "settle",
    "update",
]


class InvoiceStatus(Enum):
    """Where an invoice is (the values are the stored states)."""

    DRAFT = "draft"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class PaymentTerms(Enum):
    """When an invoice is due, counted from the day it is finalized (UTC)."""

    DUE_ON_RECEIPT = "due_on_receipt"
    NET_7 = "net_7"
    NET_15 = "net_15"
    NET_30 = "net_30"
    NET_60 = "net_60"

    @property
    def days(self) -> int:
        return 0 if self is PaymentTerms.DUE_ON_RECEIPT else int(self.value.removeprefix("net_"))


class ExportStatus(Enum):
    PENDING = "pending"  # the integration should export it
    EXPORTED = "exported"
    FAILED = "failed"


# The states after finalizing, in which the accounting export applies and payments are taken.
FINALIZED = ("open", "partially_paid", "paid", "uncollectible")


def _columns(entering: Entering) -> dict[str, Any]:
    columns: dict[str, Any] = {"status": entering.state}
    row = entering.row
    if entering.state == "open":
        terms = PaymentTerms(row.payment_terms)
        due = row.due_date or entering.at.astimezone(UTC).date() + timedelta(days=terms.days)
        columns |= {"finalized_at": entering.at, "due_date": due, "export_status": "pending"}
    elif entering.state == "void":
        if row.amount_paid > 0:
            raise Conflict(
                f"Invoice `{row.public_id}` has payments that succeeded: it cannot be voided; "
                "refund them first, or mark it uncollectible.",
                reason="has_payments",
            )
        columns |= {"voided_at": entering.at, "void_reason": entering.reason}
    elif entering.state == "uncollectible":
        columns["marked_uncollectible_at"] = entering.at
    return columns


async def _then(uow: UnitOfWork, row: Invoice, entering: Entering, snapshots: Snapshots) -> None:
    """A finalized invoice is one to export: the accounting integration hears it as it hears
    a request again (``invoice.export_requested``), beside ``invoice.finalized``."""
    if entering.state == "open":
        event = INVOICES.event_of("request_export")
        crud.record(uow, INVOICES, row, event, ["export_status"], snapshots(INVOICES))


LIFECYCLE = Lifecycle(
    states=tuple(s.value for s in InvoiceStatus),
    transitions=(
        Transition(
            "finalize",
            sources=("draft",),
            target="open",
            event="finalized",
            description="Issue the invoice: it is due by its terms (or `dueDate`), its lines "
            "are fixed, and its accounting export is pending (`invoice.export_requested` too).",
        ),
        Transition(
            "void",
            sources=("draft", "open"),
            target="void",
            event="voided",
            description="Cancel the invoice, with a reason: never once a payment succeeded.",
            reason=True,
        ),
        Transition(
            "mark_uncollectible",
            sources=("open", "partially_paid"),
            target="uncollectible",
            event="marked_uncollectible",
            description="Give up collecting what is still due.",
        ),
    ),
    state=lambda row: row.status,
    columns=_columns,
    then=_then,
)


def _sample(s: SampleContext) -> dict[str, Any]:
    return {
        "customerId": s.id_of(CUSTOMERS),
        "currency": "USD",
        "taxRateBps": 825,
        "paymentTerms": "NET_15",
        "lineItems": [
            {"serviceId": s.id_of(SERVICES), "quantity": 1},
            {
                "description": f"Emergency call-out fee{s.distinct}",
                "unitPrice": {"amount": 9500, "currency": "USD"},
            },
        ],
        "notes": "Thank you for your business.",
    }


INVOICES = Resource(
    model=Invoice,
    name="invoice",
    prefix="inv",
    lifecycle=LIFECYCLE,
    sample=_sample,
    change={"notes": "Paid by card on site.", "paymentTerms": "DUE_ON_RECEIPT"},
    invalid={"taxRateBps": 10_001},
    actions=("request_export", "record_export"),
    action_events={"request_export": "export_requested", "record_export": "export_recorded"},
    action_sources={"request_export": FINALIZED, "record_export": FINALIZED},
    action_samples={
        "record_export": lambda _s: {
            "system": "quickbooks",
            "externalId": "QB-10452",
            "exportStatus": "EXPORTED",
        }
    },
    system_events={
        "overdue": "An open invoice was still owed after its due date (UTC): found by the "
        "service, once.",
        "paid": "Its payments came to its total: a payment succeeded "
        "(`POST /payments`, `confirm`).",
        "partially_paid": "A payment succeeded, and some of it is still due.",
        "refunded": "A refund lowered what it has been paid (`POST /payments/{id}/refund`).",
    },
)


class InvoiceFields(DocumentFields):
    """An invoice's editable state: a priced document's, and its terms."""

    # Stored by value ("net_30"), as every enum column is.
    payment_terms: Annotated[
        PaymentTerms, PlainSerializer(lambda terms: terms.value, return_type=str)
    ] = PaymentTerms.NET_30
    due_date: date | None = None  # else: the terms, from the day it is finalized


class RecordExportInvoiceFields(BaseModel):
    """What the accounting integration reports."""

    model_config = ConfigDict(extra="forbid")

    system: Annotated[str, non_blank(40)]
    external_id: Annotated[str, non_blank(200)] | None = None
    export_status: ExportStatus
    error: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @model_validator(mode="after")
    def _outcome(self) -> "RecordExportInvoiceFields":
        if self.export_status is ExportStatus.PENDING:
            raise ValueError("exportStatus reports an outcome: EXPORTED or FAILED")
        if self.export_status is ExportStatus.EXPORTED and self.external_id is None:
            raise ValueError("an exported invoice has the accounting system's externalId")
        if self.export_status is ExportStatus.FAILED and self.error is None:
            raise ValueError("a failed export says why, in error")
        return self


class InvoiceOrder(Enum):
    CREATED_AT_DESC = Sort("created_at_desc", Invoice.created_at, descending=True)  # type: ignore[arg-type]
    CREATED_AT_ASC = Sort("created_at_asc", Invoice.created_at, descending=False)  # type: ignore[arg-type]
    DUE_DATE_ASC = Sort("due_date_asc", Invoice.due_date, descending=False)  # type: ignore[arg-type]


@dataclass(frozen=True)
class InvoiceFilter:
    """Also the GraphQL ``InvoiceFilter`` (``schema.inputs.filter_input``)."""

    status: InvoiceStatus | None = field(
        default=None, metadata={"description": "Only invoices in this state."}
    )
    customer_id: str | None = field(
        default=None, metadata={"description": "One customer's invoices (`cus_…`)."}
    )
    estimate_id: str | None = field(
        default=None, metadata={"description": "The invoice an estimate became (`est_…`)."}
    )
    export_status: ExportStatus | None = field(
        default=None,
        metadata={"description": "The accounting handoff: `PENDING` lists what to export."},
    )
    updated_since: datetime | None = None


def _where(f: InvoiceFilter) -> list[ColumnElement[bool]]:
    return [
        *crud.equal_to(
            f,
            {
                "status": col(Invoice.status),
                "customer_id": col(Invoice.customer_id),
                "estimate_id": col(Invoice.estimate_id),
                "export_status": col(Invoice.export_status),
            },
        ),
        *crud.updated_since(col(Invoice.updated_at), f.updated_since),
    ]


async def list_invoices(
    uow: UnitOfWork, *, filter: InvoiceFilter, sort: InvoiceOrder, first: int, after: str | None
) -> Page[Invoice]:
    return await crud.list_page(
        uow, INVOICES, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    return await crud.read(uow, INVOICES, public_id)


async def _insert(
    uow: UnitOfWork,
    columns: dict[str, Any],
    snapshot: Snapshot,
    fields: list[str],
    *,
    public_id: str = "",
) -> Invoice:
    """A numbered draft; ``public_id``: the id a write named it by already, if any."""
    row = Invoice(
        **columns,
        number=await issue_number(uow, "invoice"),
        status="draft",
        organization_id=0,
        environment="",
        public_id=public_id,
    )
    return await crud.create(uow, INVOICES, row, snapshot, fields=fields)


async def create(uow: UnitOfWork, data: dict[str, Any], snapshot: Snapshot) -> Invoice:
    """A new invoice is a ``draft``, numbered at once."""
    fields = validate(InvoiceFields, data)
    return await _insert(uow, await priced_columns(uow, fields), snapshot, sorted(data))


async def update(
    uow: UnitOfWork, public_id: str, changes: dict[str, Any], snapshot: Snapshot
) -> Invoice:
    """A draft's new state (``documents.update_document``)."""
    row: Invoice = await crud.get(uow, INVOICES, public_id)
    require_state(INVOICES, row, "update", ("draft",))
    updated: Invoice = await update_document(uow, INVOICES, row, changes, InvoiceFields, snapshot)
    return updated


async def delete_invoice(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> Invoice:
    """Only a draft may be deleted: an issued invoice stays, void if need be."""
    row: Invoice = await crud.get(uow, INVOICES, public_id)
    require_state(INVOICES, row, "delete", ("draft",))
    return await crud.soft_delete(uow, INVOICES, row, snapshot)


async def request_export(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> Invoice:
    """Ask the accounting integration (again) to export a finalized invoice."""
    row: Invoice = await crud.get(uow, INVOICES, public_id)
    require_action_state(INVOICES, row, "request_export")
    changes = {"export_status": ExportStatus.PENDING.value, "export_error": None}
    return await _accounting(uow, row, changes, "request_export", snapshot)


async def record_export(
    uow: UnitOfWork, public_id: str, data: dict[str, Any], snapshot: Snapshot
) -> Invoice:
    """The integration's answer: exported (with its external id) or failed (with why)."""
    fields = validate(RecordExportInvoiceFields, data)
    row: Invoice = await crud.get(uow, INVOICES, public_id)
    require_action_state(INVOICES, row, "record_export")
    changes = {
        "export_status": fields.export_status.value,
        "accounting_system": fields.system,
        "accounting_external_id": fields.external_id,
        "export_error": fields.error,
    }
    return await _accounting(uow, row, changes, "record_export", snapshot)


async def _accounting(
    uow: UnitOfWork, row: Invoice, changes: dict[str, Any], action: str, snapshot: Snapshot
) -> Invoice:
    """An accounting change, recorded as its action's event even when nothing changed (a
    second request for the same export is still a request)."""
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    uow.session.add(row)
    await uow.session.flush()
    crud.record(uow, INVOICES, row, INVOICES.event_of(action), sorted(changes), snapshot)
    return row


async def hold_for_payment(uow: UnitOfWork, public_id: str) -> Invoice:
    """The invoice a payment is counted against, locked for the rest of the transaction
    (``crud.hold``: concurrent payments to it take turns) and read as the one before left it.
    A draft or void invoice takes no payment (409 ``invoice_not_payable``)."""
    await crud.hold(uow, INVOICES, public_id, None)
    invoice: Invoice = await crud.get(uow, INVOICES, public_id, reload=True)
    if invoice.status not in FINALIZED:
        then = "finalize it first" if invoice.status == "draft" else "it is owed nothing"
        raise Conflict(
            f"Invoice `{public_id}` is {invoice.status}: it takes no payment ({then}).",
            reason="invoice_not_payable",
            state=invoice.status,
        )
    return invoice


async def settle(uow: UnitOfWork, invoice: Invoice, snapshot: Snapshot, *, adding: int) -> Invoice:
    """Count a held invoice's payments, as written so far in this transaction: what its
    succeeded payments keep after refunds is ``amount_paid``, and the status follows
    (``paid`` at its total; ``partially_paid`` short of it; ``open`` again when refunds take
    it all back; ``uncollectible`` stays so until paid in full). Refused if its succeeded and
    pending payments together come to more than its total (409 ``exceeds_amount_due``, with
    what was still due before the ``adding`` minor units this write adds)."""
    paid, pending = await _collected(uow, invoice.public_id)
    if paid + pending > invoice.total:
        due = invoice.total - (paid + pending - adding)
        raise Conflict(
            f"Invoice `{invoice.public_id}` has "
            f"{money.format_amount(max(due, 0), invoice.currency)} {invoice.currency} still "
            "due (pending payments included): a payment may not collect more.",
            reason="exceeds_amount_due",
            amount_due={"amount": max(due, 0), "currency": invoice.currency},
        )
    if paid >= invoice.total:
        status = "paid"
    elif invoice.status == "uncollectible":
        status = "uncollectible"
    else:
        status = "partially_paid" if paid > 0 else "open"
    if paid > invoice.amount_paid:
        verb = "paid" if status == "paid" else "partially_paid"
    else:
        verb = "refunded"
    settled: Invoice = await crud.update(
        uow, INVOICES, invoice, {"amount_paid": paid, "status": status}, snapshot, verb=verb
    )
    return settled


async def _collected(uow: UnitOfWork, invoice_id: str) -> tuple[int, int]:
    """What an invoice's succeeded payments keep after refunds, and what its pending ones
    hold: one statement, through the tenant filter."""
    kept = func.sum(
        case(
            (col(Payment.status) == "succeeded", Payment.amount - Payment.amount_refunded), else_=0
        )
    )
    held = func.sum(case((col(Payment.status) == "pending", Payment.amount), else_=0))
    statement = select(func.coalesce(kept, 0), func.coalesce(held, 0)).where(
        *tenant_terms(Payment),
        col(Payment.invoice_id) == invoice_id,
        col(Payment.deleted_at).is_(None),
    )
    found = (await uow.session.execute(statement, tenant(uow.principal))).one()
    return int(found[0]), int(found[1])


async def convert_estimate(
    uow: UnitOfWork,
    estimate_id: str,
    snapshot: Snapshot,
    invoice_snapshot: Snapshot,
    *,
    invoice_id: str = "",
) -> Estimate:
    """An approved estimate's draft invoice, once only: its customer, appointment, currency,
    tax rate and lines as quoted. The estimate names the invoice (``estimate.converted``).
    The estimate's row lock (the mutation holds it) makes a second conversion wait and then
    find it converted; the unique ``invoices.estimate_id`` is the backstop. ``invoice_id``:
    the id a completing appointment named the invoice by."""
    estimate: Estimate = await crud.get(uow, ESTIMATES, estimate_id)
    require_action_state(ESTIMATES, estimate, "convert")
    if estimate.invoice_id is not None:
        raise Conflict(
            f"Estimate `{estimate.public_id}` was converted already: invoice "
            f"`{estimate.invoice_id}`.",
            reason="already_converted",
            invoice_id=estimate.invoice_id,
        )
    fields = InvoiceFields.model_construct(  # validated when the estimate was written
        customer_id=estimate.customer_id,
        appointment_id=estimate.appointment_id,
        currency=estimate.currency,
        tax_rate_bps=estimate.tax_rate_bps,
        line_items=[],  # the estimate's lines, as quoted, below
        notes=estimate.notes,
        payment_terms=PaymentTerms.NET_30,
        due_date=None,
    )
    columns = await priced_columns(uow, fields, stored_lines(estimate))
    try:
        invoice = await _insert(
            uow,
            {**columns, "estimate_id": estimate.public_id},
            invoice_snapshot,
            ["estimate_id"],
            public_id=invoice_id,
        )
    except Conflict:  # the unique estimate_id: another transaction converted it first
        raise Conflict(
            f"Estimate `{estimate.public_id}` was converted already.", reason="already_converted"
        ) from None
    converted: Estimate = await crud.update(
        uow,
        ESTIMATES,
        estimate,
        {"invoice_id": invoice.public_id},
        snapshot,
        verb=ESTIMATES.event_of("convert"),
    )
    return converted


async def draft_for_appointment(
    uow: UnitOfWork, appointment: Appointment, snapshots: Snapshots
) -> None:
    """The draft invoice of a completion that asked for one, under the id the appointment
    names (``appointment.invoice_id``): its newest approved estimate not yet converted,
    converted (``estimate.converted``); else its service lines, priced from the catalog as it
    is now, in the services' currency, untaxed, on ``NET_30``. Lines that cannot be priced
    (a service gone, inactive or in another currency) refuse the completion with a 422
    naming them (``/services/<i>/serviceId``)."""
    assert appointment.invoice_id is not None, "the completion names its invoice first"
    estimate = await _convertible_estimate(uow, appointment.public_id)
    if estimate is not None:
        await convert_estimate(
            uow,
            estimate,
            snapshots(ESTIMATES),
            snapshots(INVOICES),
            invoice_id=appointment.invoice_id,
        )
        return
    lines = appointment.services
    services = await crud.read_many(uow, SERVICES, [line["service_id"] for line in lines])
    fields = InvoiceFields.model_construct(  # the appointment's own state, validated when written
        customer_id=appointment.customer_id,
        appointment_id=appointment.public_id,
        # The services' currency (the first one found; one gone is refused below, by line).
        currency=next((s.currency for s in services if s is not None), ""),
        tax_rate_bps=0,
        line_items=[
            money.LineItemFields(service_id=line["service_id"], quantity=line["quantity"])
            for line in lines
        ],
        notes=None,
        payment_terms=PaymentTerms.NET_30,
        due_date=None,
    )
    try:
        columns = await priced_columns(uow, fields)
    except BadUserInput as refused:
        raise BadUserInput(
            f"Appointment `{appointment.public_id}` cannot be invoiced: {refused.detail}",
            errors=[_on_appointment(e) for e in refused.errors],
        ) from None
    await _insert(
        uow, columns, snapshots(INVOICES), ["appointment_id"], public_id=appointment.invoice_id
    )


def _on_appointment(error: FieldError) -> FieldError:
    """A document's line (``/input/lineItems/1/serviceId``) as the appointment's own
    (``/services/1/serviceId``): the caller sent no lines, the appointment has them."""
    pointer = error.pointer.replace("/input/lineItems/", "/services/", 1)
    return FieldError(pointer.replace("/input/", "/", 1), error.message)


async def _convertible_estimate(uow: UnitOfWork, appointment_id: str) -> str | None:
    """The appointment's newest approved estimate not yet converted, if any."""
    statement = (
        scoped(Estimate)
        .where(
            col(Estimate.appointment_id) == appointment_id,
            col(Estimate.status) == "approved",
            col(Estimate.invoice_id).is_(None),
        )
        .order_by(col(Estimate.created_at).desc(), col(Estimate.public_id).desc())
        .limit(1)
    )
    found = await uow.session.scalars(statement, tenant(uow.principal))
    estimate = found.first()
    return None if estimate is None else estimate.public_id


async def mark_overdue(
    conn: AsyncConnection, snapshot: Snapshot, *, now: datetime, limit: int = 500
) -> int:
    """The background runner's chore: an open or partly paid invoice past its due date (UTC)
    is found overdue once (``invoice.overdue``, by the system). How many."""
    today = now.astimezone(UTC).date()
    return await sweep(
        conn,
        INVOICES,
        snapshot,
        due=[
            col(Invoice.status).in_(("open", "partially_paid")),
            col(Invoice.due_date) < today,
            col(Invoice.overdue_at).is_(None),
        ],
        changes={"overdue_at": now, "updated_at": now},
        verb="overdue",
        limit=limit,
    )
