"""Columns every tenant row carries. No ``from __future__ import annotations`` here (SQLModel)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from asteri.kit.db import UtcDateTime, utcnow

__all__ = [
    "BigInt",
    "Environment",
    "JsonColumn",
    "TenantRow",
    "TimestampedRow",
    "Versioned",
    "utc_field",
]

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


class Versioned(SQLModel):
    """A row whose ``version`` counts its changes: 1 when created, one more with each ORM
    ``UPDATE`` that changes it. SQLAlchemy does the counting (``version_id_col``), so no write
    can forget it, and each such ``UPDATE`` says ``WHERE version = <the version it read>``: a
    write that lost a race changes nothing and fails (``StaleDataError``) rather than
    overwriting. The public ``version`` and ``ETag`` are this number."""

    version: int = Field(default=1)

    @declared_attr  # type: ignore[arg-type]
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class TenantRow(Versioned, TimestampedRow):
    """Owned by one (organization, environment). Reached only through ``authz.tenancy``."""

    organization_id: int = Field(foreign_key="organizations.id", index=True)
    environment: str = Field(max_length=8)
    updated_at: datetime = utc_field()
    deleted_at: datetime | None = utc_field(nullable=True)
