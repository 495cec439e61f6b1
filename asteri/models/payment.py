from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field

from asteri.models.base import BigInt, TenantRow, utc_field

__all__ = ["Payment", "PaymentRefund"]


class Payment(TenantRow, table=True):
    """Money received against one invoice, in its currency.

    ``amount_refunded`` is the sum of its refunds (rows of ``payment_refunds``), kept by the
    one writer of both; what it leaves (``amount - amount_refunded``) of each succeeded
    payment is what its invoice counts as paid. The customer is the invoice's, copied so that
    a customer's payments are found by index."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_tenant_created", "organization_id", "environment", "created_at"),
        Index("ix_payments_tenant_invoice", "organization_id", "environment", "invoice_id"),
        Index("ix_payments_tenant_customer", "organization_id", "environment", "customer_id"),
    )

    invoice_id: str = Field(foreign_key="invoices.public_id", max_length=40)
    customer_id: str = Field(foreign_key="customers.public_id", max_length=40)
    status: str = Field(max_length=16)
    amount: int = Field(sa_type=BigInt)
    currency: str = Field(max_length=3)
    amount_refunded: int = Field(default=0, sa_type=BigInt)
    method: str = Field(max_length=8)
    card_brand: str | None = Field(default=None, max_length=16)
    card_last4: str | None = Field(default=None, max_length=4)
    reference: str | None = Field(default=None, max_length=200)  # a check number, a processor id
    notes: str | None = None
    received_at: datetime = utc_field()
    succeeded_at: datetime | None = utc_field(nullable=True)
    failed_at: datetime | None = utc_field(nullable=True)
    failure_reason: str | None = Field(default=None, max_length=500)


class PaymentRefund(TenantRow, table=True):
    """Money given back from one payment: a record of its own (``re_…``), never changed."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        Index("ix_payment_refunds_tenant_payment", "organization_id", "environment", "payment_id"),
    )

    payment_id: str = Field(foreign_key="payments.public_id", max_length=40)
    amount: int = Field(sa_type=BigInt)
    currency: str = Field(max_length=3)
    reason: str | None = Field(default=None, max_length=500)
