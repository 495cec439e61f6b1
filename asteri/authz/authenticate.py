"""Credentials + ``x-organization-id`` → a ``Principal``, once per request.

Outcomes (documented in the README): no credentials, a malformed/unknown/revoked/expired key or
a bad bearer token → 401; a missing ``x-organization-id`` → 401 (the request is not pinned to an
organization); an organization the credential does not belong to → 403. The 403 is the same
whether or not that organization exists, so it never confirms one.
"""

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import col

from asteri.authz.isolation import Exemption, exempt
from asteri.authz.keys import hash_key, parse_key
from asteri.authz.principal import (
    ActorType,
    Lapse,
    Principal,
    ends_at,
    lapse,
    organization_mismatch,
)
from asteri.authz.scopes import Scope
from asteri.authz.sessions import authenticate_bearer, verify_token
from asteri.kit.db import utcnow
from asteri.kit.errors import Unauthenticated
from asteri.kit.rows import Rows
from asteri.models import ApiKey, Environment, Organization

__all__ = [
    "API_KEY_HEADER",
    "NO_CREDENTIAL",
    "ORGANIZATION_HEADER",
    "KeyCache",
    "authenticate",
]

NO_CREDENTIAL = "missing_credentials"  # the 401's reason when no credential was sent at all

API_KEY_HEADER = "x-api-key"
ORGANIZATION_HEADER = "x-organization-id"

_KNOWN_SCOPES = {s.value for s in Scope}
_LAPSED_KEY = {
    Lapse.REVOKED: "The API key has been revoked.",
    Lapse.EXPIRED: "The API key has expired.",
}


class KeyCache:
    """Authenticated keys by digest, so a read need not look its key up every time.

    Safe only because every read re-checks the key in its own statement (``authz/tenancy.py``:
    the row is visible only while the key exists at the cached ``version``, unrevoked and
    unexpired), and the REST facade re-authenticates against the database whenever a cached
    principal gets nothing, a 403 or a 404. Writes and GraphQL never use it. Entries also
    expire after ``ttl`` seconds; the cache is per process and bounded.
    """

    def __init__(
        self,
        *,
        ttl: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, tuple[Principal, datetime, datetime | None, float]] = {}

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        principal, expires_at, revoked_at, stored = entry
        if self.clock() - stored > self.ttl or lapse(revoked_at, expires_at, utcnow()):
            self._entries.pop(digest, None)
            return None
        return principal

    def put(self, digest: str, principal: Principal, key: Any) -> None:
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        remembered = replace(principal, cached_key_pk=key.id, cached_key_version=key.version)
        self._entries[digest] = (remembered, key.expires_at, key.revoked_at, self.clock())

    def forget(self, digest: str) -> None:
        self._entries.pop(digest, None)


async def authenticate(
    rows: Rows,
    headers: Mapping[str, str],
    *,
    pepper: str,
    session_secret: str = "",
    cache: KeyCache | None = None,
    cached: bool = False,
) -> Principal:
    """With ``cache``, a key authenticated here is remembered; with ``cached`` too, a
    remembered key is served from it without a database read (only for reads that re-check
    the key themselves: see ``KeyCache``)."""
    api_key = headers.get(API_KEY_HEADER)
    authorization = headers.get("authorization")
    if api_key is None and authorization is None:
        raise Unauthenticated(
            "Missing credentials: send a scoped API key in `x-api-key` "
            "or a session token in `Authorization: Bearer …`.",
            reason=NO_CREDENTIAL,
        )
    # The credential is checked before the organization header, as a key is.
    claims = (
        None
        if api_key is not None
        else verify_token(_bearer_token(authorization or ""), session_secret)
    )
    principal = None
    if api_key is not None:
        principal = await _from_api_key(rows, api_key.strip(), pepper, cache, cached)
    organization_id = headers.get(ORGANIZATION_HEADER, "").strip()
    if not organization_id:
        raise Unauthenticated(
            "Every request must name its organization in the `x-organization-id` header.",
            reason="missing_organization",
        )
    if principal is None:  # a person: their membership in that organization decides
        assert claims is not None
        return await authenticate_bearer(rows, claims, organization_id)
    if not hmac.compare_digest(organization_id.encode(), principal.organization_id.encode()):
        raise organization_mismatch()
    return principal


# Built once (constructing SQL expressions per request costs more than running them), and
# plain columns rather than an ORM entity: this runs on every request.
_KEY = ApiKey.__table__.c  # type: ignore[attr-defined]
_KEY_LOOKUP = exempt(
    select(
        _KEY.id,
        _KEY.version,
        _KEY.public_id,
        _KEY.secret_hash,
        _KEY.organization_id,
        _KEY.environment,
        _KEY.scopes,
        _KEY.expires_at,
        _KEY.revoked_at,
        _KEY.persisted_only,
        _KEY.per_minute,
        _KEY.per_day,
        col(Organization.public_id).label("organization_public_id"),
    )
    .join(Organization, col(Organization.id) == _KEY.organization_id)
    .where(_KEY.secret_hash == bindparam("key_digest")),
    Exemption.KEY_LOOKUP,
)


async def _from_api_key(
    rows: Rows, value: str, pepper: str, cache: KeyCache | None, cached: bool
) -> Principal:
    environment = parse_key(value)
    if environment is None:
        raise Unauthenticated("The API key is malformed.", reason="malformed_key")
    digest = hash_key(value, pepper)
    if cache is not None and cached:
        remembered = cache.get(digest)
        if remembered is not None:
            return remembered
    try:
        key = await rows.one(_KEY_LOOKUP, {"key_digest": digest})
        principal = _principal(key, digest, environment)
    except Unauthenticated:
        if cache is not None:
            cache.forget(digest)
        raise
    if cache is not None:
        cache.put(digest, principal, key)
    return principal


def _principal(key: Any, digest: str, environment: Environment) -> Principal:
    if key is None or not hmac.compare_digest(key.secret_hash, digest):
        raise Unauthenticated("The API key is invalid.", reason="invalid_key")
    lapsed = lapse(key.revoked_at, key.expires_at, utcnow())
    if lapsed is not None:
        raise Unauthenticated(_LAPSED_KEY[lapsed], reason=f"{lapsed}_key")
    if key.environment != environment.value:
        raise Unauthenticated("The API key is invalid.", reason="invalid_key")
    return Principal(
        organization_pk=key.organization_id,
        organization_id=key.organization_public_id,
        environment=environment,
        scopes=frozenset(Scope(s) for s in key.scopes if s in _KNOWN_SCOPES),
        actor_type=ActorType.API_KEY,
        actor_id=key.public_id,
        persisted_only=key.persisted_only,
        per_minute=key.per_minute,
        per_day=key.per_day,
        expires_at=ends_at(key.revoked_at, key.expires_at),
    )


def _bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "The Authorization header is malformed: expected `Bearer <token>`.",
            reason="malformed_bearer",
        )
    return token.strip()
