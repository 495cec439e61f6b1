from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from asteri.models.base import utc_field

__all__ = ["IdempotencyRecord", "IdempotencyState"]


class IdempotencyState(StrEnum):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST sent with an ``Idempotency-Key``, replayed to retries.

    One row per (organization, environment, API key, route template, key). ``in_flight`` while
    the first request runs (``claim_token`` names the request holding it); ``completed`` once
    its response is stored, in the same transaction as the write. Kept until ``expires_at``.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint(
            "organization_id",
            "environment",
            "actor_id",
            "route",
            "key",
            name="uq_idempotency_keys_scope",
        ),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organizations.id")
    environment: str = Field(max_length=8)
    actor_id: str = Field(max_length=40)
    route: str = Field(max_length=128)  # "POST /customers/{id}/archive": the template
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)  # sha256 of the concrete path + canonical body
    claim_token: str = Field(max_length=32)
    state: str = Field(max_length=16)
    response_status: int | None = None
    response_content_type: str | None = Field(default=None, max_length=64)
    response_body: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()
