from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from asteri.models.base import JsonColumn, TenantRow, utc_field

__all__ = ["Customer", "CustomerTag"]


class Customer(TenantRow, table=True):
    """Contact points and addresses are value objects of the customer, kept as JSON lists."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_tenant_created", "organization_id", "environment", "created_at"),
        Index("ix_customers_tenant_updated", "organization_id", "environment", "updated_at"),
    )

    display_name: str = Field(max_length=200)
    given_name: str | None = Field(default=None, max_length=100)
    family_name: str | None = Field(default=None, max_length=100)
    company: str | None = Field(default=None, max_length=200)
    emails: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonColumn)
    phones: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonColumn)
    addresses: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonColumn)
    # Also in customer_tags (one writer keeps both): lists read tags without a second query.
    tags: list[str] = Field(default_factory=list, sa_type=JsonColumn)
    notes: str | None = None
    archived_at: datetime | None = utc_field(nullable=True)
    # Lower-cased names, company, emails and phones: what text search matches.
    search_text: str = ""


class CustomerTag(SQLModel, table=True):
    """Tags in their own rows so ``tag:`` filters are an indexed lookup on both backends."""

    __tablename__ = "customer_tags"
    __table_args__ = (
        Index("ix_customer_tags_tenant_tag", "organization_id", "environment", "tag"),
    )

    customer_id: int = Field(foreign_key="customers.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(max_length=64, primary_key=True)
    organization_id: int = Field(foreign_key="organizations.id")
    environment: str = Field(max_length=8)
