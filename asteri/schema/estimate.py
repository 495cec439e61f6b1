"""Estimates in the public schema: the DTO, its priced lines, its inputs, its root fields and
its lifecycle (``send``, ``approve``, ``decline``)."""

from datetime import date, datetime

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.models.estimate import Estimate as EstimateRow
from asteri.resolvers import estimate as estimates
from asteri.resolvers import invoice as invoices
from asteri.resolvers.appointment import APPOINTMENTS
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.invoice import INVOICES
from asteri.schema.appointment import Appointment
from asteri.schema.context import RequestContext
from asteri.schema.customer import Customer
from asteri.schema.documents import LineItem, LineItemInput, money_column
from asteri.schema.fields import RootFields, mutation, query, related, version_field
from asteri.schema.inputs import DeletedObject, described_enum, filter_input, sent_values
from asteri.schema.invoice import Invoice
from asteri.schema.invoice import snapshot as invoice_snapshot
from asteri.schema.lifecycle import lifecycle_mutations
from asteri.schema.money import Money
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.snapshot import snapshot_of

__all__ = ["Estimate", "EstimateMutations", "EstimateQueries"]

Ctx = Info[RequestContext, None]

EstimateStatus = estimates.EstimateStatus
described_enum(
    EstimateStatus,
    description="Where an estimate is in its lifecycle.",
    values={
        "DRAFT": "Being written: the only state in which it may change or be deleted.",
        "SENT": "With the customer, awaiting an answer until its `validUntil` day.",
        "APPROVED": "The customer accepted it.",
        "DECLINED": "The customer turned it down.",
        "EXPIRED": "Still unanswered after its `validUntil` day (UTC).",
    },
)
EstimateApprovalChannel = estimates.ApprovalChannel
described_enum(
    EstimateApprovalChannel,
    name="EstimateApprovalChannel",
    description="How the customer gave their approval.",
    values={
        "IN_PERSON": "On site, to the team.",
        "PHONE": "By phone.",
        "EMAIL": "By email.",
        "PORTAL": "In a customer portal.",
        "OTHER": "Some other way.",
    },
)


@strawberry.type(description="Who approved an estimate.")
class EstimateApproval:
    by: str = strawberry.field(description="`member` (a team member's session) or `customer`.")
    team_member_id: strawberry.ID | None = strawberry.field(
        default=None, description="The member who approved it, when `by` is `member`."
    )
    name: str | None = strawberry.field(
        default=None, description="The customer's name, when `by` is `customer`."
    )
    channel: str | None = strawberry.field(
        default=None,
        description="How the customer approved (`EstimateApprovalChannel`, lowercase).",
    )


@strawberry.type(
    description="A priced quote for a customer (`EST-0001`), sent, then approved or declined."
)
class Estimate:
    id: strawberry.ID
    number: str = strawberry.field(
        description="Per organization and environment, without gaps; never changes."
    )
    customer_id: strawberry.ID
    appointment_id: strawberry.ID | None
    status: EstimateStatus
    currency: str = strawberry.field(description="ISO 4217: every amount is in it.")
    tax_rate_bps: int = strawberry.field(description="Basis points: 825 is 8.25 %.")
    line_items: list[LineItem]
    subtotal: Money = strawberry.field(description="The lines' subtotals.")
    discount_total: Money
    tax_total: Money
    total: Money = strawberry.field(description="`subtotal - discountTotal + taxTotal`.")
    valid_until: date = strawberry.field(
        description="The last day (UTC) it may be approved; a sent estimate expires after it."
    )
    notes: str | None
    sent_at: datetime | None
    approved_at: datetime | None
    approval: EstimateApproval | None
    declined_at: datetime | None
    decline_reason: str | None
    expired_at: datetime | None
    invoice_id: strawberry.ID | None = strawberry.field(
        description="The invoice it was converted to (`convertEstimate`), once only."
    )
    created_at: datetime
    updated_at: datetime
    version: int = version_field()

    @classmethod
    def from_row(cls, row: EstimateRow) -> "Estimate":
        return ESTIMATE_ROWS.build(row)

    @related(Scope.READ_CUSTOMERS, description="The customer; null if deleted since.")
    async def customer(self, info: Ctx) -> Customer | None:
        row = await info.context.by_id(CUSTOMERS).load(str(self.customer_id))
        return None if row is None else Customer.from_row(row)

    @related(Scope.READ_INVOICES, description="The invoice it became, if converted.")
    async def invoice(self, info: Ctx) -> Invoice | None:
        if self.invoice_id is None:
            return None
        row = await info.context.by_id(INVOICES).load(str(self.invoice_id))
        return None if row is None else Invoice.from_row(row)

    @related(Scope.READ_APPOINTMENTS, description="The appointment it is for, if any.")
    async def appointment(self, info: Ctx) -> Appointment | None:
        if self.appointment_id is None:
            return None
        row = await info.context.by_id(APPOINTMENTS).load(str(self.appointment_id))
        return None if row is None else Appointment.from_row(row)


ESTIMATE_ROWS = RowMap(
    Estimate,
    id="public_id",
    status=lambda row: EstimateStatus(row.status),
    line_items=LineItem,
    subtotal=money_column("subtotal"),
    discount_total=money_column("discount_total"),
    tax_total=money_column("tax_total"),
    total=money_column("total"),
    approval=EstimateApproval,
)
snapshot = snapshot_of(Estimate.from_row)

EstimateOrder = estimates.EstimateOrder
strawberry.enum(EstimateOrder, description="Orderings for estimate lists.")

EstimateFilter = estimates.EstimateFilter
filter_input(EstimateFilter, description="Narrow an estimate list; all must hold.")


@strawberry.input(description="A new estimate, a `draft`; numbered at once.")
class CreateEstimateInput:
    customer_id: strawberry.ID
    appointment_id: strawberry.ID | None = UNSET
    currency: str
    tax_rate_bps: int = 0
    line_items: list[LineItemInput]
    valid_until: date
    notes: str | None = UNSET


@strawberry.input(
    description="Changes to a draft: absent fields are untouched; `lineItems` replaces every "
    "line (catalog lines are priced again from the catalog)."
)
class UpdateEstimateInput:
    appointment_id: strawberry.ID | None = UNSET
    currency: str | None = UNSET
    tax_rate_bps: int | None = UNSET
    line_items: list[LineItemInput] | None = UNSET
    valid_until: date | None = UNSET
    notes: str | None = UNSET


@strawberry.input(
    description="Who approved: the customer, by name and channel. A team member approving it "
    "in their own session may leave both out; a key must give them."
)
class ApproveEstimateInput:
    customer_name: str | None = UNSET
    channel: EstimateApprovalChannel | None = UNSET


@strawberry.type
class EstimateQueries:
    @query(Scope.READ_ESTIMATES, description="An estimate by id; null with NOT_FOUND.")
    async def estimate(self, info: Ctx, id: strawberry.ID) -> Estimate | None:
        return Estimate.from_row(await estimates.read(info.context.uow, str(id)))

    @query(Scope.READ_ESTIMATES, description="Estimates, newest first unless `orderBy` says.")
    async def estimates(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: EstimateFilter | None = None,
        order_by: EstimateOrder = EstimateOrder.CREATED_AT_DESC,
    ) -> Connection[Estimate]:
        page = await estimates.list_estimates(
            info.context.uow,
            filter=filter or EstimateFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, Estimate.from_row)


@strawberry.type
class EstimateMutations:
    @mutation(Scope.WRITE_ESTIMATES, description="Write an estimate: a numbered draft.")
    async def create_estimate(self, info: Ctx, input: CreateEstimateInput) -> Estimate:
        row = await estimates.create(info.context.uow, sent_values(input), snapshot)
        return Estimate.from_row(row)

    @mutation(Scope.WRITE_ESTIMATES, description="Change a draft; priced again whole.")
    async def update_estimate(
        self, info: Ctx, id: strawberry.ID, input: UpdateEstimateInput
    ) -> Estimate:
        row = await estimates.update(info.context.uow, str(id), sent_values(input), snapshot)
        return Estimate.from_row(row)

    @mutation(
        Scope.WRITE_INVOICES,
        description="Turn an approved estimate into a draft invoice with its lines as quoted, "
        "once only (`estimate.converted` names the invoice). Needs `write:invoices`.",
    )
    async def convert_estimate(self, info: Ctx, id: strawberry.ID) -> Estimate:
        row = await invoices.convert_estimate(info.context.uow, str(id), snapshot, invoice_snapshot)
        return Estimate.from_row(row)

    @mutation(
        Scope.DELETE_ESTIMATES,
        description="Delete a draft (a sent estimate stays on the customer's record).",
    )
    async def delete_estimate(self, info: Ctx, id: strawberry.ID) -> DeletedObject:
        row = await estimates.delete_estimate(info.context.uow, str(id), snapshot)
        return DeletedObject(id=strawberry.ID(row.public_id))


EstimateLifecycle = lifecycle_mutations(
    Estimate,
    resource=estimates.ESTIMATES,
    scope=Scope.WRITE_ESTIMATES,
    from_row=Estimate.from_row,
    snapshot=snapshot,
    inputs=(ApproveEstimateInput,),
)

ROOT_FIELDS = RootFields(
    queries=(EstimateQueries,), mutations=(EstimateMutations, EstimateLifecycle)
)
