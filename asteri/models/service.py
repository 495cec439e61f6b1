from sqlalchemy import Index
from sqlmodel import Field

from asteri.models.base import BigInt, TenantRow

__all__ = ["Service"]


class Service(TenantRow, table=True):
    """A catalog entry. Money is integer minor units plus an ISO 4217 currency."""

    __tablename__ = "services"
    __table_args__ = (
        Index("ix_services_tenant_created", "organization_id", "environment", "created_at"),
    )

    name: str = Field(max_length=200)
    description: str | None = None
    unit_price_amount: int = Field(sa_type=BigInt)
    currency: str = Field(max_length=3)
    duration_minutes: int
    taxable: bool = True
    bookable_online: bool = False
    active: bool = True
