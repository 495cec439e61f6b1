"""Payments in the public schema: the DTO, its refunds, its inputs, its root fields, its
lifecycle (``confirm``, ``fail``) and the ``refund`` action."""

from datetime import datetime
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.models.payment import Payment as PaymentRow
from asteri.resolvers import payment as payments
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.invoice import INVOICES
from asteri.schema.context import RequestContext
from asteri.schema.customer import Customer
from asteri.schema.documents import money_column
from asteri.schema.fields import RootFields, mutation, query, related, version_field
from asteri.schema.inputs import DeletedObject, described_enum, filter_input, sent_values
from asteri.schema.invoice import Invoice
from asteri.schema.lifecycle import lifecycle_mutations
from asteri.schema.money import Money, MoneyInput
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.snapshot import snapshot_for, snapshot_of

__all__ = ["Payment", "PaymentMutations", "PaymentQueries", "snapshot"]

Ctx = Info[RequestContext, None]

PaymentStatus = payments.PaymentStatus
described_enum(
    PaymentStatus,
    description="Where a payment is. Only a `SUCCEEDED` payment counts toward its invoice.",
    values={
        "PENDING": "Being settled (a card authorization, an ACH transfer): it holds part of "
        "the invoice's amount due until it is confirmed or fails.",
        "SUCCEEDED": "Received: its invoice counts it as paid (less any refunds).",
        "FAILED": "Never received: declined, returned or bounced; `failureReason` says why.",
    },
)
PaymentMethod = payments.PaymentMethod
described_enum(
    PaymentMethod,
    description="How the money came.",
    values={
        "CARD": "A credit or debit card (`card` may name its brand and last four digits).",
        "ACH": "A bank transfer.",
        "CASH": "Cash.",
        "CHECK": "A check (`reference` may hold its number).",
        "OTHER": "Any other way.",
    },
)
CardBrand = payments.CardBrand
described_enum(
    CardBrand,
    description="A card's network.",
    values={
        "VISA": "Visa.",
        "MASTERCARD": "Mastercard.",
        "AMEX": "American Express.",
        "DISCOVER": "Discover.",
        "DINERS": "Diners Club.",
        "JCB": "JCB.",
        "UNIONPAY": "UnionPay.",
        "OTHER": "Another network.",
    },
)


@strawberry.type(description="The card a payment was made with, as far as it is known.")
class PaymentCard:
    brand: CardBrand | None
    last4: str | None = strawberry.field(description="Its last four digits.")


@strawberry.type(description="Money given back from a payment: a record of its own.")
class PaymentRefund:
    id: strawberry.ID
    payment_id: strawberry.ID
    amount: Money
    reason: str | None
    created_at: datetime


def _card(row: Any) -> PaymentCard | None:
    if row.card_brand is None and row.card_last4 is None:
        return None
    brand = None if row.card_brand is None else CardBrand(row.card_brand)
    return PaymentCard(brand=brand, last4=row.card_last4)


def _refund(row: Any) -> PaymentRefund:
    return PaymentRefund(
        id=strawberry.ID(row.public_id),
        payment_id=strawberry.ID(row.payment_id),
        amount=Money.of(row.amount, row.currency),
        reason=row.reason,
        created_at=row.created_at,
    )


@strawberry.type(
    description="Money received against an invoice, in its currency: pending, succeeded or "
    "failed, and what of it was refunded."
)
class Payment:
    id: strawberry.ID
    invoice_id: strawberry.ID
    customer_id: strawberry.ID = strawberry.field(description="The invoice's customer.")
    status: PaymentStatus
    amount: Money
    amount_refunded: Money = strawberry.field(description="What its refunds came to.")
    refunded: bool = strawberry.field(description="Refunded in full.")
    method: PaymentMethod
    card: PaymentCard | None = strawberry.field(description="Null unless a card was named.")
    reference: str | None = strawberry.field(
        description="The payer's or processor's reference: a check number, a charge id."
    )
    notes: str | None
    received_at: datetime
    succeeded_at: datetime | None
    failed_at: datetime | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int = version_field()

    @classmethod
    def from_row(cls, row: PaymentRow) -> "Payment":
        return PAYMENT_ROWS.build(row)

    @related(Scope.READ_INVOICES, description="The invoice it pays; null if deleted since.")
    async def invoice(self, info: Ctx) -> Invoice | None:
        row = await info.context.by_id(INVOICES).load(str(self.invoice_id))
        return None if row is None else Invoice.from_row(row)

    @related(Scope.READ_CUSTOMERS, description="The customer; null if deleted since.")
    async def customer(self, info: Ctx) -> Customer | None:
        row = await info.context.by_id(CUSTOMERS).load(str(self.customer_id))
        return None if row is None else Customer.from_row(row)

    @related(Scope.READ_PAYMENTS, description="Its refunds, oldest first.")
    async def refunds(self, info: Ctx, first: int = 20) -> list[PaymentRefund]:
        rows = await info.context.children(
            "payment.refunds", str(self.id), page_size(first), payments.refunds_of
        )
        return [_refund(r) for r in rows]


PAYMENT_ROWS = RowMap(
    Payment,
    id="public_id",
    status=lambda row: PaymentStatus(row.status),
    method=lambda row: PaymentMethod(row.method),
    amount=money_column("amount"),
    amount_refunded=money_column("amount_refunded"),
    refunded=lambda row: row.amount_refunded >= row.amount,
    card=_card,
)
snapshot = snapshot_of(Payment.from_row)

PaymentOrder = payments.PaymentOrder
strawberry.enum(PaymentOrder, description="Orderings for payment lists.")

PaymentFilter = payments.PaymentFilter
filter_input(PaymentFilter, description="Narrow a payment list; all must hold.")


@strawberry.input(description="The card, as far as it is known (never its number).")
class PaymentCardInput:
    brand: CardBrand | None = UNSET
    last4: str | None = strawberry.field(default=UNSET, description="Four digits.")


@strawberry.input(
    description="A payment received against a finalized invoice, in its currency. It may not "
    "bring what the invoice collects (pending payments included) above its total."
)
class CreatePaymentInput:
    invoice_id: strawberry.ID
    amount: MoneyInput = strawberry.field(description="At least 1 minor unit.")
    method: PaymentMethod
    card: PaymentCardInput | None = strawberry.field(default=UNSET, description="Only for `CARD`.")
    reference: str | None = UNSET
    notes: str | None = UNSET
    received_at: datetime | None = strawberry.field(
        default=UNSET, description="When it was received (not in the future); else now."
    )
    pending: bool = strawberry.field(
        default=False,
        description="Still being settled: `PENDING` until `confirmPayment` or `failPayment`. "
        "Else it succeeded as it is recorded.",
    )


@strawberry.input(description="What may change once a payment is recorded.")
class UpdatePaymentInput:
    reference: str | None = UNSET
    notes: str | None = UNSET


@strawberry.input(description="A refund: all that is left of the payment, unless `amount`.")
class RefundPaymentInput:
    amount: MoneyInput | None = strawberry.field(
        default=UNSET, description="In the payment's currency; at most what is left."
    )
    reason: str | None = UNSET


@strawberry.type
class PaymentQueries:
    @query(Scope.READ_PAYMENTS, description="A payment by id; null with NOT_FOUND.")
    async def payment(self, info: Ctx, id: strawberry.ID) -> Payment | None:
        return Payment.from_row(await payments.read(info.context.uow, str(id)))

    @query(Scope.READ_PAYMENTS, description="Payments, newest first unless `orderBy` says.")
    async def payments(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: PaymentFilter | None = None,
        order_by: PaymentOrder = PaymentOrder.CREATED_AT_DESC,
    ) -> Connection[Payment]:
        page = await payments.list_payments(
            info.context.uow,
            filter=filter or PaymentFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, Payment.from_row)


@strawberry.type
class PaymentMutations:
    @mutation(
        Scope.WRITE_PAYMENTS,
        description="Record a payment against an invoice; the invoice's balance and status "
        "follow at once.",
    )
    async def create_payment(self, info: Ctx, input: CreatePaymentInput) -> Payment:
        row = await payments.create(info.context.uow, sent_values(input), snapshot_for)
        return Payment.from_row(row)

    @mutation(Scope.WRITE_PAYMENTS, description="Change a payment's reference or notes.")
    async def update_payment(
        self, info: Ctx, id: strawberry.ID, input: UpdatePaymentInput
    ) -> Payment:
        row = await payments.update(info.context.uow, str(id), sent_values(input), snapshot_for)
        return Payment.from_row(row)

    @mutation(
        Scope.DELETE_PAYMENTS,
        description="Delete a payment recorded in error: pending or failed only (refund a "
        "succeeded one).",
    )
    async def delete_payment(self, info: Ctx, id: strawberry.ID) -> DeletedObject:
        row = await payments.delete_payment(info.context.uow, str(id), snapshot_for)
        return DeletedObject(id=strawberry.ID(row.public_id))

    @mutation(
        Scope.WRITE_PAYMENTS,
        description="Give back part or all of a succeeded payment: a refund of its own; the "
        "invoice is owed it again (`payment.refunded`, `invoice.refunded`).",
    )
    async def refund_payment(
        self, info: Ctx, id: strawberry.ID, input: RefundPaymentInput | None = None
    ) -> Payment:
        given = {} if input is None else sent_values(input)
        row = await payments.refund(info.context.uow, str(id), given, snapshot_for)
        return Payment.from_row(row)


PaymentLifecycle = lifecycle_mutations(
    Payment,
    resource=payments.PAYMENTS,
    scope=Scope.WRITE_PAYMENTS,
    from_row=Payment.from_row,
    snapshot=snapshot,
)

ROOT_FIELDS = RootFields(queries=(PaymentQueries,), mutations=(PaymentMutations, PaymentLifecycle))
