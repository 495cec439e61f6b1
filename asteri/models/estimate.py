from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from asteri.models.base import BigInt, JsonColumn, TenantRow, utc_field

__all__ = ["Estimate"]


class Estimate(TenantRow, table=True):
    """A quote for a customer: priced lines, totals, and where it is in its approval.

    The line items are value objects kept as JSON, each with its computed amounts: the
    document is priced once, when written, and reads show exactly what was quoted. Totals are
    stored beside them for filtering and for the invoice it may become."""

    __tablename__ = "estimates"
    __table_args__ = (
        UniqueConstraint("organization_id", "environment", "number", name="uq_estimates_number"),
        Index("ix_estimates_tenant_created", "organization_id", "environment", "created_at"),
        Index("ix_estimates_tenant_customer", "organization_id", "environment", "customer_id"),
        Index("ix_estimates_expiry", "status", "valid_until"),
    )

    number: str = Field(max_length=24)  # EST-0001: issued once, never changed
    customer_id: str = Field(foreign_key="customers.public_id", max_length=40)
    appointment_id: str | None = Field(
        default=None, foreign_key="appointments.public_id", max_length=40
    )
    status: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    tax_rate_bps: int = 0
    line_items: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonColumn)
    # Minor units (a document may come to 10^15): 64-bit columns.
    subtotal: int = Field(default=0, sa_type=BigInt)
    discount_total: int = Field(default=0, sa_type=BigInt)
    tax_total: int = Field(default=0, sa_type=BigInt)
    total: int = Field(default=0, sa_type=BigInt)
    valid_until: date
    notes: str | None = None
    sent_at: datetime | None = utc_field(nullable=True)
    approved_at: datetime | None = utc_field(nullable=True)
    # Who approved it: {"by": "member", "team_member_id"} or {"by": "customer", "name",
    # "channel"}.
    approval: dict[str, Any] | None = Field(default=None, sa_type=JsonColumn)
    declined_at: datetime | None = utc_field(nullable=True)
    decline_reason: str | None = Field(default=None, max_length=500)
    expired_at: datetime | None = utc_field(nullable=True)
    # The invoice it was converted to (once only): a plain id, since invoices refer to
    # estimates by key and the two tables may not refer to each other.
    invoice_id: str | None = Field(default=None, max_length=40)
