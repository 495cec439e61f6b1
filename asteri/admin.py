"""Operator actions outside a request (CLI, demo): organizations and keys, in sync sessions."""

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from asteri.authz.keys import IssuedKey, issue_key
from asteri.authz.scopes import Scope
from asteri.kit.db import utcnow
from asteri.kit.errors import BadUserInput, NotFound
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.models import ApiKey, Environment, Organization
from asteri.models.api_key import DEFAULT_PER_DAY, DEFAULT_PER_MINUTE

__all__ = [
    "MAX_KEY_LIFETIME",
    "create_key",
    "create_organization",
    "list_keys",
    "parse_duration",
    "revoke_key",
]

MAX_KEY_LIFETIME = timedelta(days=365)
MAX_LIMIT = 2_000_000_000  # fits the 32-bit integer columns
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``30d``."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise BadUserInput(f"`{text}` is not a duration like 90s, 15m, 24h or 30d.")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def create_organization(engine: Engine, name: str) -> Organization:
    with Session(engine, expire_on_commit=False) as session:
        org = Organization(public_id=new_public_id(IdPrefix.ORGANIZATION), name=name)
        session.add(org)
        session.commit()
        return org


@dataclass(frozen=True)
class KeyRequest:
    organization_id: str
    scopes: list[str]
    environment: Environment = Environment.LIVE
    expires_in: timedelta = timedelta(days=90)
    name: str = "API key"
    persisted_only: bool = False
    per_minute: int = DEFAULT_PER_MINUTE
    per_day: int = DEFAULT_PER_DAY


def create_key(engine: Engine, request: KeyRequest, *, pepper: str) -> IssuedKey:
    unknown = sorted(set(request.scopes) - {s.value for s in Scope})
    if unknown:
        raise BadUserInput(f"Unknown scope(s): {', '.join(unknown)}.")
    if not request.scopes:
        raise BadUserInput("A key needs at least one scope.")
    if not timedelta(0) < request.expires_in <= MAX_KEY_LIFETIME:
        raise BadUserInput("A key must expire within 365 days.")
    if not 1 <= request.per_minute <= MAX_LIMIT or not 1 <= request.per_day <= MAX_LIMIT:
        raise BadUserInput(f"Rate limits must be between 1 and {MAX_LIMIT:,} requests.")
    with Session(engine, expire_on_commit=False) as session:
        org = session.scalar(
            select(Organization).where(col(Organization.public_id) == request.organization_id)
        )
        if org is None or org.id is None:
            raise NotFound(f"No organization with id `{request.organization_id}`.")
        issued = issue_key(
            session,
            organization_pk=org.id,
            environment=request.environment,
            scopes=[Scope(s) for s in request.scopes],
            expires_at=utcnow() + request.expires_in,
            name=request.name,
            pepper=pepper,
            persisted_only=request.persisted_only,
            per_minute=request.per_minute,
            per_day=request.per_day,
        )
        session.commit()
        return issued


def list_keys(engine: Engine, organization_id: str) -> list[ApiKey]:
    """Every key of the organization (revoked and expired ones too), oldest first."""
    with Session(engine, expire_on_commit=False) as session:
        org_pk = session.scalar(
            select(col(Organization.id)).where(col(Organization.public_id) == organization_id)
        )
        if org_pk is None:
            raise NotFound(f"No organization with id `{organization_id}`.")
        return list(
            session.scalars(
                select(ApiKey)
                .where(col(ApiKey.organization_id) == org_pk)
                .order_by(col(ApiKey.created_at), col(ApiKey.id))
            )
        )


def revoke_key(engine: Engine, key_id: str) -> None:
    with Session(engine) as session:
        result = session.execute(
            update(ApiKey)
            .where(col(ApiKey.public_id) == key_id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )
        exists = session.scalar(select(col(ApiKey.id)).where(col(ApiKey.public_id) == key_id))
        if exists is None:
            raise NotFound(f"No API key with id `{key_id}`.")
        session.commit()
        _ = result
