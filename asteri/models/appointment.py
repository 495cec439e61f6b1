from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from asteri.models.base import JsonColumn, TenantRow, utc_field

__all__ = ["Appointment", "AppointmentAssignee"]


class Appointment(TenantRow, table=True):
    """A visit: a customer, the services to perform, a window, a place and the people sent.

    The customer is referenced by its public id (unique, and never changes), so reads show it
    without a join. The service lines and the assignees' ids are value lists kept as JSON; the
    assignees are also rows of ``appointment_assignees`` (one writer keeps both), where the
    double-booking check and the team-member filter find them by index.
    """

    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_tenant_start", "organization_id", "environment", "scheduled_start"),
        Index("ix_appointments_tenant_customer", "organization_id", "environment", "customer_id"),
    )

    customer_id: str = Field(foreign_key="customers.public_id", max_length=40)
    status: str = Field(max_length=16)
    scheduled_start: datetime = utc_field()
    scheduled_end: datetime = utc_field()
    time_zone: str = Field(max_length=64)  # the site's IANA zone, for local display
    address: dict[str, Any] = Field(default_factory=dict, sa_type=JsonColumn)
    services: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonColumn)
    assignee_ids: list[str] = Field(default_factory=list, sa_type=JsonColumn)
    notes: str | None = None
    completed_at: datetime | None = utc_field(nullable=True)
    cancel_reason: str | None = Field(default=None, max_length=500)
    # The draft invoice its completion made, if asked (``complete`` with ``draft_invoice``): a
    # plain id, as an estimate's ``invoice_id``, since invoices refer to appointments by key
    # and the two tables may not refer to each other; it is written in the invoice's
    # transaction, named before the invoice is inserted.
    invoice_id: str | None = Field(default=None, max_length=40)


class AppointmentAssignee(SQLModel, table=True):
    """Who is sent: one row per (appointment, team member)."""

    __tablename__ = "appointment_assignees"
    __table_args__ = (
        Index(
            "ix_appointment_assignees_tenant_member",
            "organization_id",
            "environment",
            "team_member_id",
        ),
    )

    appointment_id: int = Field(foreign_key="appointments.id", primary_key=True, ondelete="CASCADE")
    team_member_id: int = Field(foreign_key="team_members.id", primary_key=True)
    organization_id: int = Field(foreign_key="organizations.id")
    environment: str = Field(max_length=8)
