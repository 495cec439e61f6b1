"""Bearer sessions for people using the first-party frontend.

A token is an RFC 7519 JWT (PyJWT, HS256 with ``ASTERI_SESSION_SECRET``) naming the person
(``sub``: ``per_…``) and the session (``sid``: ``ses_…``), with ``iat`` and ``exp``. It names no
organization: ``x-organization-id`` picks one per request, and it must be one where the person
has an active team member record (same email, same environment as the session), else 403 —
the brief's "switch to the correct organization". Their role there decides the scopes
(``authz/roles.py``). The session row makes a token revocable before it expires.

Outcomes: not a JWT → 401 ``malformed_bearer``; a bad signature or claims → 401
``invalid_bearer``; past ``exp`` (or the session's expiry) → 401 ``expired_bearer``; a revoked
session → 401 ``revoked_bearer``; an organization the person is not an active member of → 403
``organization_mismatch``, whether or not it exists.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from asteri.authz.isolation import Exemption, exempt
from asteri.authz.principal import (
    ActorType,
    Lapse,
    Principal,
    ends_at,
    lapse,
    organization_mismatch,
)
from asteri.authz.roles import scopes_for
from asteri.kit.db import utcnow
from asteri.kit.errors import BadUserInput, NotFound, Unauthenticated
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.kit.rows import Rows
from asteri.models import BearerSession, Environment, Organization, Person, TeamMember

__all__ = [
    "MAX_SESSION_TTL",
    "SESSION_PER_DAY",
    "SESSION_PER_MINUTE",
    "IssuedSession",
    "authenticate_bearer",
    "issue_session",
    "revoke_session",
    "verify_token",
]

MAX_SESSION_TTL = timedelta(days=7)
# A person's budget in one organization (a frontend makes many small calls).
SESSION_PER_MINUTE = 600
SESSION_PER_DAY = 100_000
_ALGORITHM = "HS256"
_ISSUER = "asteri"


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session_id: str
    person_id: str
    expires_at: datetime


def issue_session(engine: Engine, member_id: str, *, ttl: timedelta, secret: str) -> IssuedSession:
    """Sign in as the person behind team member ``member_id`` for ``ttl`` (at most 7 days)."""
    if not timedelta(0) < ttl <= MAX_SESSION_TTL:
        raise BadUserInput("A session lasts more than 0 seconds and at most 7 days.")
    with Session(engine, expire_on_commit=False) as session:
        member = session.scalar(
            select(TeamMember).where(
                col(TeamMember.public_id) == member_id, col(TeamMember.deleted_at).is_(None)
            )
        )
        if member is None:
            raise NotFound(f"No team member with id `{member_id}`.")
        if not member.active:
            raise BadUserInput(f"Team member `{member_id}` is inactive; activate them first.")
        email = member.email.lower()
        person = session.scalar(select(Person).where(col(Person.email) == email))
        if person is None:
            person = Person(public_id=new_public_id(IdPrefix.PERSON), email=email)
            session.add(person)
            session.flush()
        assert person.id is not None
        now = utcnow()
        record = BearerSession(
            public_id=new_public_id(IdPrefix.SESSION),
            person_id=person.id,
            environment=member.environment,
            issued_for=member.public_id,
            expires_at=now + ttl,
        )
        session.add(record)
        session.commit()
        claims = {
            "iss": _ISSUER,
            "sub": person.public_id,
            "sid": record.public_id,
            "iat": int(now.timestamp()),
            "exp": int(record.expires_at.timestamp()),
        }
        token = jwt.encode(claims, secret, algorithm=_ALGORITHM)
        return IssuedSession(token, record.public_id, person.public_id, record.expires_at)


def revoke_session(engine: Engine, session_id: str) -> None:
    """Sign out now: every token naming the session is refused from the next request."""
    with Session(engine) as session:
        found = session.execute(
            update(BearerSession)
            .where(col(BearerSession.public_id) == session_id)
            .values(revoked_at=func.coalesce(col(BearerSession.revoked_at), utcnow()))
        )
        if found.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(f"No session with id `{session_id}`.")
        session.commit()


def _claims(token: str, secret: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise Unauthenticated(
            "The bearer token is malformed: expected a session token.", reason="malformed_bearer"
        ) from None
    if header.get("alg") != _ALGORITHM:
        raise Unauthenticated("The bearer token is invalid.", reason="invalid_bearer")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={"require": ["exp", "iat", "iss", "sub", "sid"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated(
            "The session has expired: sign in again.", reason="expired_bearer"
        ) from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("The bearer token is invalid.", reason="invalid_bearer") from None
    if not isinstance(claims.get("sid"), str) or not isinstance(claims.get("sub"), str):
        raise Unauthenticated("The bearer token is invalid.", reason="invalid_bearer")
    return claims


_S = BearerSession.__table__.c  # type: ignore[attr-defined]
_P = Person.__table__.c  # type: ignore[attr-defined]
_SESSION = (
    select(_S.revoked_at, _S.expires_at, _S.environment, _P.public_id.label("person_id"), _P.email)
    .join(Person, _P.id == _S.person_id)
    .where(_S.public_id == bindparam("sid"))
)
_M = TeamMember.__table__.c  # type: ignore[attr-defined]
_O = Organization.__table__.c  # type: ignore[attr-defined]
_MEMBERSHIP = exempt(
    select(_M.public_id, _M.role, _O.id.label("organization_pk"))
    .join(Organization, _O.id == _M.organization_id)
    .where(
        _O.public_id == bindparam("organization_id"),
        _M.environment == bindparam("environment"),
        _M.email == bindparam("member_email"),
        _M.active.is_(True),
        _M.deleted_at.is_(None),
    ),
    Exemption.MEMBERSHIP_LOOKUP,
)


def verify_token(token: str, secret: str) -> dict[str, Any]:
    """The token's claims if this server signed it and it has not expired (no database)."""
    return _claims(token, secret)


async def authenticate_bearer(
    rows: Rows, claims: dict[str, Any], organization_id: str
) -> Principal:
    """The person's principal in ``organization_id`` (already checked to be non-empty), from
    verified ``claims``: the session must be live and the person a member there."""
    found = await rows.one(_SESSION, {"sid": claims["sid"]})
    if found is None or found.person_id != claims["sub"]:
        raise Unauthenticated("The bearer token is invalid.", reason="invalid_bearer")
    lapsed = lapse(found.revoked_at, found.expires_at, utcnow())
    if lapsed is Lapse.REVOKED:
        raise Unauthenticated("The session has been signed out.", reason="revoked_bearer")
    if lapsed is Lapse.EXPIRED:
        raise Unauthenticated("The session has expired: sign in again.", reason="expired_bearer")
    member = await rows.one(
        _MEMBERSHIP,
        {
            "organization_id": organization_id,
            "environment": found.environment,
            "member_email": found.email,
        },
    )
    if member is None:
        raise organization_mismatch()
    return Principal(
        organization_pk=member.organization_pk,
        organization_id=organization_id,
        environment=Environment(found.environment),
        scopes=scopes_for(member.role),
        actor_type=ActorType.MEMBER,
        actor_id=member.public_id,
        per_minute=SESSION_PER_MINUTE,
        per_day=SESSION_PER_DAY,
        role=member.role,
        session_id=claims["sid"],
        expires_at=ends_at(found.revoked_at, found.expires_at),
    )
