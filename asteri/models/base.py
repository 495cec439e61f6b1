"""Columns every tenant row carries. No ``from __future__ import annotations`` here (SQLModel)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from asteri.kit.db import UtcDateTime, utcnow

__all__ = ["BigInt", "Environment", "JsonColumn", "TenantRow", "TimestampedRow", "utc_field"]

JsonColumn = JSON().with_variant(JSONB(), "postgresql")
BigInt = BigInteger()


class Environment(StrEnum):
    """A key's environment decides which data it sees: live and test never mix."""

    LIVE = "live"
    TEST = "test"


def utc_field(*, nullable: bool = False, **kwargs: Any) -> Any:
    if nullable:
        return Field(default=None, sa_type=UtcDateTime, nullable=True, **kwargs)
    return Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False, **kwargs)


class TimestampedRow(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=40, unique=True)
    created_at: datetime = utc_field()


class TenantRow(TimestampedRow):
    """Owned by one (organization, environment). Reached only through ``authz.tenancy``."""

    organization_id: int = Field(foreign_key="organizations.id", index=True)
    environment: str = Field(max_length=8)
    updated_at: datetime = utc_field()
    deleted_at: datetime | None = utc_field(nullable=True)
