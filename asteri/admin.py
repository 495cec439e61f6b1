"""Operator actions outside a request (CLI, demo): organizations and keys, in sync sessions."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from asteri.authz.keys import IssuedKey, issue_key
from asteri.authz.scopes import Scope
from asteri.kit.db import utcnow
from asteri.kit.errors import BadUserInput, Conflict, NotFound
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.models import ApiKey, Environment, Organization
from asteri.models.api_key import DEFAULT_PER_DAY, DEFAULT_PER_MINUTE

__all__ = [
    "MAX_KEY_LIFETIME",
    "MAX_ROTATION_OVERLAP",
    "RotatedKey",
    "create_key",
    "create_organization",
    "list_keys",
    "parse_duration",
    "revoke_key",
    "rotate_key",
]

MAX_KEY_LIFETIME = timedelta(days=365)
MAX_ROTATION_OVERLAP = timedelta(days=7)
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
    """Revoke now. A key in a rotation overlap (revocation scheduled later) is revoked now too."""
    now = utcnow()
    with Session(engine) as session:
        session.execute(
            update(ApiKey)
            .where(
                col(ApiKey.public_id) == key_id,
                or_(col(ApiKey.revoked_at).is_(None), col(ApiKey.revoked_at) > now),
            )
            .values(revoked_at=now, version=col(ApiKey.version) + 1)
        )
        exists = session.scalar(select(col(ApiKey.id)).where(col(ApiKey.public_id) == key_id))
        if exists is None:
            raise NotFound(f"No API key with id `{key_id}`.")
        session.commit()


@dataclass(frozen=True)
class RotatedKey(IssuedKey):
    """The new key and its secret (shown once), plus when the old key stops working."""

    old_key_valid_until: datetime


def rotate_key(engine: Engine, key_id: str, *, overlap: timedelta, pepper: str) -> RotatedKey:
    """Replace a key with a new secret; the old one keeps working for ``overlap`` (0 to 7 days).

    The new key copies the old one's organization, environment, name, scopes, limits,
    ``persisted_only`` and ``expires_at``: rotation changes the secret, never the policy, so it
    cannot extend a key's life (create a new key for that). The old key gets
    ``revoked_at = now + overlap``; authentication refuses it from that instant (0 = at once).
    A revoked, expired or already rotated key is refused. One transaction.
    """
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise BadUserInput("The rotation overlap must be between 0 and 7 days.")
    now = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        old = session.scalar(
            select(ApiKey).where(col(ApiKey.public_id) == key_id).with_for_update()
        )
        if old is None or old.id is None:
            raise NotFound(f"No API key with id `{key_id}`.")
        if old.revoked_at is not None and old.revoked_at <= now:
            raise BadUserInput(f"API key `{key_id}` is revoked; a revoked key cannot be rotated.")
        if old.revoked_at is not None:
            raise BadUserInput(
                f"API key `{key_id}` was already rotated and stops working at "
                f"{old.revoked_at.isoformat()}; rotate its successor instead."
            )
        if old.expires_at <= now:
            raise BadUserInput(f"API key `{key_id}` has expired; create a new key instead.")
        revoke_at = now + overlap
        # Conditional, so two concurrent rotations cannot both succeed.
        claimed = session.execute(
            update(ApiKey)
            .where(col(ApiKey.id) == old.id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=revoke_at, version=col(ApiKey.version) + 1)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"API key `{key_id}` was rotated or revoked concurrently.")
        known = {s.value for s in Scope}
        issued = issue_key(
            session,
            organization_pk=old.organization_id,
            environment=Environment(old.environment),
            scopes=[Scope(s) for s in old.scopes if s in known],
            expires_at=old.expires_at,
            name=old.name,
            pepper=pepper,
            persisted_only=old.persisted_only,
            per_minute=old.per_minute,
            per_day=old.per_day,
            rotated_from=old.public_id,
        )
        session.commit()
        return RotatedKey(
            record=issued.record,
            secret=issued.secret,
            old_key_valid_until=min(revoke_at, old.expires_at),
        )
