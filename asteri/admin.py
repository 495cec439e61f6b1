"""Operator actions outside a request (CLI, demo): organizations and keys, in sync sessions."""

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlmodel import col, select

from asteri.authz.key_policy import (
    MAX_KEY_LIFETIME,
    MAX_LIMIT,
    MAX_ROTATION_OVERLAP,
    check_overlap,
    check_rotatable,
    check_terms,
    revocation,
    rotation_claim,
)
from asteri.authz.keys import IssuedKey, RotatedKey, new_key, successor_of
from asteri.authz.principal import ActorType, Principal
from asteri.kit.db import utcnow
from asteri.kit.errors import BadUserInput, Conflict, NotFound
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.models import ApiKey, Environment, Organization
from asteri.models.api_key import DEFAULT_PER_DAY, DEFAULT_PER_MINUTE
from asteri.resolvers.audit import change_records
from asteri.schema.api_key import snapshot

__all__ = [
    "MAX_KEY_LIFETIME",
    "MAX_LIMIT",
    "MAX_ROTATION_OVERLAP",
    "KeyRequest",
    "RotatedKey",
    "create_key",
    "create_organization",
    "list_keys",
    "parse_duration",
    "revoke_key",
    "rotate_key",
    "update_key",
]

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``30d``."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise BadUserInput(f"`{text}` is not a duration like 90s, 15m, 24h or 30d.")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


OPERATOR_ID = "cli"  # the audit trail's actor for operator (CLI) changes
OPERATOR = f"operator:{OPERATOR_ID}"  # as a key's created_by


def _audit(session: Session, key: ApiKey, verb: str, changed: list[str]) -> None:
    """Record a key change by the operator: the same audit entry and event as the security
    center writes, in the change's own transaction."""
    operator = Principal(
        organization_pk=key.organization_id,
        organization_id="",
        environment=Environment(key.environment),
        scopes=frozenset(),
        actor_type=ActorType.OPERATOR,
        actor_id=OPERATOR_ID,
    )
    session.add_all(
        change_records(
            operator,
            None,
            resource_type="api_key",
            verb=verb,
            resource_id=key.public_id,
            changed_fields=changed,
            payload=snapshot(key),  # the public shape: never a secret or hash
        )
    )


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
    terms = check_terms(
        name=request.name,
        scopes=request.scopes,
        expires_in=request.expires_in,
        per_minute=request.per_minute,
        per_day=request.per_day,
    )
    with Session(engine, expire_on_commit=False) as session:
        org = session.scalar(
            select(Organization).where(col(Organization.public_id) == request.organization_id)
        )
        if org is None or org.id is None:
            raise NotFound(f"No organization with id `{request.organization_id}`.")
        issued = new_key(
            organization_pk=org.id,
            environment=request.environment,
            scopes=terms["scopes"],
            expires_at=utcnow() + terms["expires_in"],
            name=terms["name"],
            pepper=pepper,
            persisted_only=request.persisted_only,
            per_minute=terms["per_minute"],
            per_day=terms["per_day"],
            created_by=OPERATOR,
        )
        session.add(issued.record)
        session.flush()
        _audit(
            session,
            issued.record,
            "created",
            ["expires_in", "name", "per_day", "per_minute", "persisted_only", "scopes"],
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
    with Session(engine) as session:
        revoked = session.execute(revocation(col(ApiKey.public_id) == key_id, utcnow()))
        key = session.scalar(select(ApiKey).where(col(ApiKey.public_id) == key_id))
        if key is None:
            raise NotFound(f"No API key with id `{key_id}`.")
        if revoked.rowcount:  # type: ignore[attr-defined]  # already revoked: nothing to record
            _audit(session, key, "revoked", ["revoked_at"])
        session.commit()


def rotate_key(engine: Engine, key_id: str, *, overlap: timedelta, pepper: str) -> RotatedKey:
    """Replace a key with a new secret; the old one keeps working for ``overlap`` (0 to 7 days).

    The new key copies the old one's policy (``successor_of``): rotation changes the secret,
    never the policy, so it cannot extend a key's life (create a new key for that). The old key
    gets ``revoked_at = now + overlap``; authentication refuses it from that instant (0 = at
    once). A revoked, expired or already rotated key is refused. One transaction.
    """
    check_overlap(overlap)
    now = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        old = session.scalar(
            select(ApiKey).where(col(ApiKey.public_id) == key_id).with_for_update()
        )
        if old is None or old.id is None:
            raise NotFound(f"No API key with id `{key_id}`.")
        check_rotatable(old, now)
        revoke_at = now + overlap
        claimed = session.execute(rotation_claim(old.id, revoke_at))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"API key `{key_id}` was rotated or revoked concurrently.")
        issued = successor_of(old, pepper=pepper, created_by=OPERATOR)
        session.add(issued.record)
        session.flush()
        _audit(session, issued.record, "rotated", [])
        session.commit()
        return RotatedKey(
            record=issued.record,
            secret=issued.secret,
            old_key_valid_until=min(revoke_at, old.expires_at),
        )


def update_key(engine: Engine, key_id: str, **changes: Any) -> ApiKey:
    """Change a key's name, scopes or limits (only those given), checked by the same rules as
    the security center; its version is bumped so a cached authentication is re-decided."""
    terms = check_terms(**changes)
    if "scopes" in terms:
        terms["scopes"] = [scope.value for scope in terms["scopes"]]
    with Session(engine, expire_on_commit=False) as session:
        key = session.scalar(select(ApiKey).where(col(ApiKey.public_id) == key_id))
        if key is None:
            raise NotFound(f"No API key with id `{key_id}`.")
        changed = sorted(k for k, v in terms.items() if getattr(key, k) != v)
        if changed:
            for name in changed:
                setattr(key, name, terms[name])
            key.version += 1
            session.flush()
            _audit(session, key, "updated", changed)
            session.commit()
        return key
