from datetime import datetime
from typing import Any, ClassVar

from sqlmodel import Field

from asteri.models.base import JsonColumn, TimestampedRow, Versioned, utc_field

__all__ = ["DEFAULT_PER_DAY", "DEFAULT_PER_MINUTE", "ApiKey"]

DEFAULT_PER_MINUTE = 60
DEFAULT_PER_DAY = 10_000


class ApiKey(Versioned, TimestampedRow, table=True):
    """A scoped, expiring key. Only ``secret_hash`` (HMAC-SHA256 with the pepper) is stored."""

    __tablename__ = "api_keys"
    # An organization's keys are managed across both its environments (authz/isolation.py).
    __table_args__: ClassVar[dict[str, Any]] = {"info": {"tenancy": "organization"}}

    organization_id: int = Field(foreign_key="organizations.id", index=True)
    environment: str = Field(max_length=8)
    name: str = Field(max_length=200)
    display_prefix: str = Field(max_length=24)
    secret_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_type=JsonColumn)
    expires_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)
    last_used_at: datetime | None = utc_field(nullable=True)
    # The public id of the key this one replaced (``asteri keys rotate``), else None.
    rotated_from: str | None = Field(default=None, max_length=40)
    # Restricted keys may only run persisted operations (by hash, or through REST).
    persisted_only: bool = False
    # Rate limits: requests per minute and per day (fixed windows, see kit/ratelimit.py).
    per_minute: int = DEFAULT_PER_MINUTE
    per_day: int = DEFAULT_PER_DAY
    # ``version`` (``Versioned``) counts every change to the key's policy (revoke, rotate, scopes,
    # limits; ``last_used_at`` is not one): a cached authentication names the version it saw,
    # and reads check it (authz/tenancy.py).
    # Who created it: `member:tm_…` (an owner's or admin's session) or `operator:cli`; null
    # for keys created before this was recorded.
    created_by: str | None = Field(default=None, max_length=64)
