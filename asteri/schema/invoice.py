"""Invoices in the public schema: the DTO, its inputs, its root fields, its lifecycle
(``finalize``, ``void``, ``markUncollectible``) and the accounting handoff's actions."""

from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.models.invoice import Invoice as InvoiceRow
from asteri.resolvers import crud
from asteri.resolvers import invoice as invoices
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.payment import PAYMENTS
from asteri.schema.context import RequestContext
from asteri.schema.customer import Customer
from asteri.schema.documents import LineItem, LineItemInput, money_column
from asteri.schema.fields import RootFields, mutation, query, related, version_field
from asteri.schema.inputs import DeletedObject, described_enum, filter_input, sent_values
from asteri.schema.lifecycle import lifecycle_mutations
from asteri.schema.money import Money
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.snapshot import snapshot_of

__all__ = ["Invoice", "InvoiceMutations", "InvoiceQueries", "snapshot"]

if TYPE_CHECKING:
    from asteri.schema.payment import Payment

Ctx = Info[RequestContext, None]

InvoiceStatus = invoices.InvoiceStatus
described_enum(
    InvoiceStatus,
    description="Where an invoice is in its lifecycle. `PARTIALLY_PAID` and `PAID` follow "
    "from its payments, never set by hand.",
    values={
        "DRAFT": "Being written: the only state in which it may change or be deleted.",
        "OPEN": "Issued and owed.",
        "PARTIALLY_PAID": "Some of it is paid.",
        "PAID": "Paid in full.",
        "VOID": "Cancelled (never once a payment succeeded).",
        "UNCOLLECTIBLE": "No longer expected to be paid.",
    },
)
PaymentTerms = invoices.PaymentTerms
described_enum(
    PaymentTerms,
    description="When an invoice is due, counted from the day it is finalized (UTC).",
    values={
        "DUE_ON_RECEIPT": "The day it is finalized.",
        "NET_7": "7 days later.",
        "NET_15": "15 days later.",
        "NET_30": "30 days later.",
        "NET_60": "60 days later.",
    },
)
InvoiceExportStatus = invoices.ExportStatus
described_enum(
    InvoiceExportStatus,
    name="InvoiceExportStatus",
    description="The handoff to an accounting system.",
    values={
        "PENDING": "To export: finalized, or asked again (`requestExportInvoice`).",
        "EXPORTED": "In the accounting system, as `externalId`.",
        "FAILED": "The last export failed; `error` says why.",
    },
)


@strawberry.type(description="Where the invoice stands in an accounting system.")
class InvoiceAccounting:
    export_status: InvoiceExportStatus | None = strawberry.field(
        description="Null while a draft: nothing to export yet."
    )
    system: str | None = strawberry.field(description="e.g. `quickbooks`, `xero`.")
    external_id: str | None = strawberry.field(description="Its id in that system.")
    error: str | None = strawberry.field(description="Why the last export failed.")


def _accounting(row: Any) -> InvoiceAccounting:
    status = row.export_status
    return InvoiceAccounting(
        export_status=None if status is None else InvoiceExportStatus(status),
        system=row.accounting_system,
        external_id=row.accounting_external_id,
        error=row.export_error,
    )


@strawberry.type(
    description="A bill for a customer (`INV-0001`): priced lines, what is paid and due, its "
    "terms and its accounting handoff."
)
class Invoice:
    id: strawberry.ID
    number: str = strawberry.field(
        description="Per organization and environment, without gaps; never changes."
    )
    customer_id: strawberry.ID
    appointment_id: strawberry.ID | None
    estimate_id: strawberry.ID | None = strawberry.field(
        description="The estimate it was converted from, if any."
    )
    status: InvoiceStatus
    currency: str = strawberry.field(description="ISO 4217: every amount is in it.")
    tax_rate_bps: int = strawberry.field(description="Basis points: 825 is 8.25 %.")
    line_items: list[LineItem]
    subtotal: Money
    discount_total: Money
    tax_total: Money
    total: Money = strawberry.field(description="`subtotal - discountTotal + taxTotal`.")
    amount_paid: Money = strawberry.field(
        description="What its succeeded payments keep after their refunds."
    )
    amount_due: Money = strawberry.field(description="`total - amountPaid`.")
    payment_terms: PaymentTerms
    due_date: date | None = strawberry.field(
        description="Set when finalized: by its terms, unless given."
    )
    notes: str | None
    finalized_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None
    marked_uncollectible_at: datetime | None
    overdue_at: datetime | None = strawberry.field(
        description="When it was found still owed after its due date."
    )
    accounting: InvoiceAccounting
    created_at: datetime
    updated_at: datetime
    version: int = version_field()

    @classmethod
    def from_row(cls, row: InvoiceRow) -> "Invoice":
        return INVOICE_ROWS.build(row)

    @related(Scope.READ_CUSTOMERS, description="The customer; null if deleted since.")
    async def customer(self, info: Ctx) -> Customer | None:
        row = await info.context.by_id(CUSTOMERS).load(str(self.customer_id))
        return None if row is None else Customer.from_row(row)

    @related(Scope.READ_PAYMENTS, description="Its payments, newest first.")
    async def payments(
        self, info: Ctx, first: int = 20
    ) -> list[Annotated["Payment", strawberry.lazy("asteri.schema.payment")]]:
        from asteri.schema.payment import Payment  # it refers back to Invoice

        rows = await info.context.children(
            "invoice.payments",
            str(self.id),
            page_size(first),
            partial(crud.newest_of_each, resource=PAYMENTS, key="invoice_id"),
        )
        return [Payment.from_row(r) for r in rows]


INVOICE_ROWS = RowMap(
    Invoice,
    id="public_id",
    status=lambda row: InvoiceStatus(row.status),
    payment_terms=lambda row: PaymentTerms(row.payment_terms),
    line_items=LineItem,
    subtotal=money_column("subtotal"),
    discount_total=money_column("discount_total"),
    tax_total=money_column("tax_total"),
    total=money_column("total"),
    amount_paid=money_column("amount_paid"),
    amount_due=lambda row: Money.of(row.total - row.amount_paid, row.currency),
    accounting=_accounting,
)
snapshot = snapshot_of(Invoice.from_row)

InvoiceOrder = invoices.InvoiceOrder
strawberry.enum(InvoiceOrder, description="Orderings for invoice lists.")

InvoiceFilter = invoices.InvoiceFilter
filter_input(InvoiceFilter, description="Narrow an invoice list; all must hold.")


@strawberry.input(description="A new invoice, a `draft`; numbered at once.")
class CreateInvoiceInput:
    customer_id: strawberry.ID
    appointment_id: strawberry.ID | None = UNSET
    currency: str
    tax_rate_bps: int = 0
    line_items: list[LineItemInput]
    payment_terms: PaymentTerms = PaymentTerms.NET_30
    due_date: date | None = strawberry.field(
        default=UNSET, description="Else: by its terms, from the day it is finalized."
    )
    notes: str | None = UNSET


@strawberry.input(
    description="Changes to a draft: absent fields are untouched; `lineItems` replaces every "
    "line (catalog lines are priced again from the catalog)."
)
class UpdateInvoiceInput:
    appointment_id: strawberry.ID | None = UNSET
    currency: str | None = UNSET
    tax_rate_bps: int | None = UNSET
    line_items: list[LineItemInput] | None = UNSET
    payment_terms: PaymentTerms | None = UNSET
    due_date: date | None = UNSET
    notes: str | None = UNSET


@strawberry.input(description="What the accounting integration reports about its export.")
class RecordExportInvoiceInput:
    system: str = strawberry.field(description="e.g. `quickbooks`, `xero`.")
    external_id: str | None = strawberry.field(
        default=UNSET, description="Its id there: required when `EXPORTED`."
    )
    export_status: InvoiceExportStatus = strawberry.field(
        description="`EXPORTED` or `FAILED` (with `error`)."
    )
    error: str | None = UNSET


@strawberry.type
class InvoiceQueries:
    @query(Scope.READ_INVOICES, description="An invoice by id; null with NOT_FOUND.")
    async def invoice(self, info: Ctx, id: strawberry.ID) -> Invoice | None:
        return Invoice.from_row(await invoices.read(info.context.uow, str(id)))

    @query(Scope.READ_INVOICES, description="Invoices, newest first unless `orderBy` says.")
    async def invoices(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: InvoiceFilter | None = None,
        order_by: InvoiceOrder = InvoiceOrder.CREATED_AT_DESC,
    ) -> Connection[Invoice]:
        page = await invoices.list_invoices(
            info.context.uow,
            filter=filter or InvoiceFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, Invoice.from_row)


@strawberry.type
class InvoiceMutations:
    @mutation(Scope.WRITE_INVOICES, description="Write an invoice: a numbered draft.")
    async def create_invoice(self, info: Ctx, input: CreateInvoiceInput) -> Invoice:
        row = await invoices.create(info.context.uow, sent_values(input), snapshot)
        return Invoice.from_row(row)

    @mutation(Scope.WRITE_INVOICES, description="Change a draft; priced again whole.")
    async def update_invoice(
        self, info: Ctx, id: strawberry.ID, input: UpdateInvoiceInput
    ) -> Invoice:
        row = await invoices.update(info.context.uow, str(id), sent_values(input), snapshot)
        return Invoice.from_row(row)

    @mutation(
        Scope.DELETE_INVOICES,
        description="Delete a draft (an issued invoice stays: void it instead).",
    )
    async def delete_invoice(self, info: Ctx, id: strawberry.ID) -> DeletedObject:
        row = await invoices.delete_invoice(info.context.uow, str(id), snapshot)
        return DeletedObject(id=strawberry.ID(row.public_id))

    @mutation(
        Scope.WRITE_INVOICES,
        description="Ask the accounting integration to export it (again): `exportStatus` "
        "becomes `PENDING` (`invoice.export_requested`).",
    )
    async def request_export_invoice(self, info: Ctx, id: strawberry.ID) -> Invoice:
        row = await invoices.request_export(info.context.uow, str(id), snapshot)
        return Invoice.from_row(row)

    @mutation(
        Scope.WRITE_INVOICES,
        description="The accounting integration's answer: exported (with its id there) or "
        "failed (with why).",
    )
    async def record_export_invoice(
        self, info: Ctx, id: strawberry.ID, input: RecordExportInvoiceInput
    ) -> Invoice:
        uow = info.context.uow
        row = await invoices.record_export(uow, str(id), sent_values(input), snapshot)
        return Invoice.from_row(row)


InvoiceLifecycle = lifecycle_mutations(
    Invoice,
    resource=invoices.INVOICES,
    scope=Scope.WRITE_INVOICES,
    from_row=Invoice.from_row,
    snapshot=snapshot,
)

ROOT_FIELDS = RootFields(queries=(InvoiceQueries,), mutations=(InvoiceMutations, InvoiceLifecycle))
