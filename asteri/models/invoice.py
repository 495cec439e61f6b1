from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from asteri.models.base import BigInt, JsonColumn, TenantRow, utc_field

__all__ = ["Invoice"]


class Invoice(TenantRow, table=True):
    """A bill for a customer: priced lines and totals (as an estimate's), what has been paid,
    when it is due, and its handoff to an accounting system.

    An invoice converted from an estimate names it; the unique ``estimate_id`` is the backstop
    that converts each estimate once only."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organization_id", "environment", "number", name="uq_invoices_number"),
        UniqueConstraint("estimate_id", name="uq_invoices_estimate"),
        Index("ix_invoices_tenant_created", "organization_id", "environment", "created_at"),
        Index("ix_invoices_tenant_customer", "organization_id", "environment", "customer_id"),
        Index("ix_invoices_tenant_export", "organization_id", "environment", "export_status"),
        Index("ix_invoices_due", "status", "due_date"),
    )

    number: str = Field(max_length=24)  # INV-0001: issued once, never changed
    customer_id: str = Field(foreign_key="customers.public_id", max_length=40)
    appointment_id: str | None = Field(
        default=None, foreign_key="appointments.public_id", max_length=40
    )
    estimate_id: str | None = Field(default=None, foreign_key="estimates.public_id", max_length=40)
    status: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    tax_rate_bps: int = 0
    line_items: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonColumn)
    # Minor units (a document may come to 10^15): 64-bit columns.
    subtotal: int = Field(default=0, sa_type=BigInt)
    discount_total: int = Field(default=0, sa_type=BigInt)
    tax_total: int = Field(default=0, sa_type=BigInt)
    total: int = Field(default=0, sa_type=BigInt)
    amount_paid: int = Field(default=0, sa_type=BigInt)
    payment_terms: str = Field(default="net_30", max_length=16)
    due_date: date | None = None
    notes: str | None = None
    finalized_at: datetime | None = utc_field(nullable=True)
    voided_at: datetime | None = utc_field(nullable=True)
    void_reason: str | None = Field(default=None, max_length=500)
    marked_uncollectible_at: datetime | None = utc_field(nullable=True)
    overdue_at: datetime | None = utc_field(nullable=True)  # when the runner found it overdue
    # The accounting handoff: pending once finalized (or asked again), then exported or failed.
    export_status: str | None = Field(default=None, max_length=16)
    accounting_system: str | None = Field(default=None, max_length=40)
    accounting_external_id: str | None = Field(default=None, max_length=200)
    export_error: str | None = Field(default=None, max_length=1000)
