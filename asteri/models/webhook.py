"""Webhook endpoints, and the delivery of events to them: one delivery per (event, endpoint),
each attempt of it recorded. The ``events`` table is the outbox the worker fans out from
(``workers/webhooks.py``)."""

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from asteri.models.base import JsonColumn, TenantRow, TimestampedRow, utc_field

__all__ = ["DeliveryAttempt", "WebhookDelivery", "WebhookEndpoint"]


class WebhookEndpoint(TenantRow, table=True):
    """Where an organization wants its events, and the secret that signs them.

    The secret is stored encrypted (``webhooks/secrets.py``), never hashed: it must sign.
    During a rotation's overlap the previous secret signs beside it until
    ``previous_secret_expires_at``."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index(
            "ix_webhook_endpoints_tenant_created", "organization_id", "environment", "created_at"
        ),
    )

    url: str = Field(max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] = Field(default_factory=list, sa_type=JsonColumn)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=16)
    secret_ciphertext: str
    previous_secret_ciphertext: str | None = None
    previous_secret_expires_at: datetime | None = utc_field(nullable=True)
    # The first failed attempt since the last success: 3 days of failing disables it.
    failing_since: datetime | None = utc_field(nullable=True)


class WebhookDelivery(TimestampedRow, table=True):
    """One event on its way to one endpoint: pending until an attempt succeeds or the
    schedule is spent. A worker holds it while it attempts (``lease_token`` until
    ``leased_until``); a killed worker's lease runs out and another takes it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index(
            "ix_webhook_deliveries_tenant_endpoint",
            "organization_id",
            "environment",
            "endpoint_id",
            "created_at",
        ),
    )

    organization_id: int = Field(foreign_key="organizations.id")
    environment: str = Field(max_length=8)
    endpoint_id: int = Field(foreign_key="webhook_endpoints.id")
    event_id: int = Field(foreign_key="events.id")
    status: str = Field(max_length=16)  # pending | retrying | succeeded | failed
    trigger: str = Field(max_length=16)  # what queued its current run: event | resend | …
    attempts: int = 0  # every attempt ever made
    step: int = 0  # attempts since its current run began: the place in the retry schedule
    next_attempt_at: datetime | None = utc_field(nullable=True)
    leased_until: datetime | None = utc_field(nullable=True)
    lease_token: str | None = Field(default=None, max_length=32)
    last_attempt_at: datetime | None = utc_field(nullable=True)
    last_response_status: int | None = None
    updated_at: datetime = utc_field()


class DeliveryAttempt(TimestampedRow, table=True):
    """One HTTP attempt of a delivery, as the receiver answered it (the delivery history).
    The endpoint's and event's public ids are copied in, so the history lists without joins."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index(
            "ix_webhook_attempts_tenant_endpoint",
            "organization_id",
            "environment",
            "endpoint_public_id",
            "attempted_at",
        ),
        Index(
            "ix_webhook_attempts_tenant_event",
            "organization_id",
            "environment",
            "event_public_id",
            "attempted_at",
        ),
        Index(
            "ix_webhook_attempts_tenant_attempted", "organization_id", "environment", "attempted_at"
        ),
    )

    organization_id: int = Field(foreign_key="organizations.id")
    environment: str = Field(max_length=8)
    delivery_id: int = Field(foreign_key="webhook_deliveries.id")
    endpoint_public_id: str = Field(max_length=40)
    event_public_id: str = Field(max_length=40)
    event_type: str = Field(max_length=64)
    message_id: str = Field(max_length=40)
    number: int  # 1 for a delivery's first attempt
    trigger: str = Field(max_length=16)
    outcome: str = Field(max_length=16)  # succeeded | failed
    response_status: int | None = None
    duration_ms: int
    response_excerpt: str | None = None
    error: str | None = Field(default=None, max_length=500)
    attempted_at: datetime = utc_field()
