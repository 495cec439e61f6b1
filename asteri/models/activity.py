from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field

from asteri.models.base import JsonColumn, TimestampedRow, utc_field

__all__ = ["AuditEntry", "Event"]


class AuditEntry(TimestampedRow, table=True):
    """Who changed what, written in the same transaction as the change."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_resource", "organization_id", "environment", "resource_id", "occurred_at"),
        Index("ix_audit_request", "organization_id", "environment", "request_id"),
        Index("ix_audit_tenant_occurred", "organization_id", "environment", "occurred_at"),
    )

    organization_id: int = Field(foreign_key="organizations.id")
    environment: str = Field(max_length=8)
    actor_type: str = Field(max_length=16)
    actor_id: str = Field(max_length=40)
    action: str = Field(max_length=64)
    resource_type: str = Field(max_length=32)
    resource_id: str = Field(max_length=40)
    changed_fields: list[str] = Field(default_factory=list, sa_type=JsonColumn)
    request_id: str | None = Field(default=None, max_length=128)
    occurred_at: datetime = utc_field()


class Event(TimestampedRow, table=True):
    """A domain event with the public snapshot of its object; webhooks deliver from here."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_tenant_created", "organization_id", "environment", "id"),
        Index("ix_events_request", "organization_id", "environment", "request_id"),
        Index("ix_events_fan_out", "fanned_out_at", "id"),
        Index("ix_events_tenant_occurred", "organization_id", "environment", "occurred_at"),
    )

    organization_id: int = Field(foreign_key="organizations.id")
    environment: str = Field(max_length=8)
    type: str = Field(max_length=64)
    resource_type: str = Field(max_length=32)
    resource_id: str = Field(max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JsonColumn)
    request_id: str | None = Field(default=None, max_length=128)
    occurred_at: datetime = utc_field()
    # The audit entry written with it: the trace from a request to its deliveries.
    audit_entry_id: str | None = Field(default=None, max_length=40)
    # Set once the webhook worker has made its deliveries (the outbox's progress); an event
    # aimed at one endpoint (a test event) is born fanned out.
    fanned_out_at: datetime | None = utc_field(nullable=True)
