"""API key format, hashing and issuing.

Format: ``ast_<env>_`` + 43 base62 chars (32 random bytes) + 6 base62 chars of CRC32 over
everything before it. The checksum lets secret scanners recognise a real key offline and lets
us reject a mistyped key without a database read (GitHub's token format does the same). Only
HMAC-SHA256(pepper, key) is stored: a fast keyed hash suits high-entropy keys, where a slow
password hash would only amplify denial of service.
"""

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime

from asteri.authz.scopes import Scope
from asteri.kit.ids import IdPrefix, base62, new_public_id
from asteri.models import ApiKey, Environment
from asteri.models.api_key import DEFAULT_PER_DAY, DEFAULT_PER_MINUTE

__all__ = [
    "IssuedKey",
    "RotatedKey",
    "hash_key",
    "new_key",
    "new_secret",
    "parse_key",
    "successor_of",
]

_KNOWN_SCOPES = {s.value for s in Scope}
_BODY_LEN = 43
_CHECK_LEN = 6
_KEY_RE = re.compile(
    rf"^ast_(live|test)_([0-9A-Za-z]{{{_BODY_LEN}}})([0-9A-Za-z]{{{_CHECK_LEN}}})$"
)


def _checksum(text: str) -> str:
    return base62(zlib.crc32(text.encode()).to_bytes(4, "big")).rjust(_CHECK_LEN, "0")


def new_secret(environment: Environment) -> str:
    head = f"ast_{environment.value}_{base62(secrets.token_bytes(32)).rjust(_BODY_LEN, '0')}"
    return head + _checksum(head)


def parse_key(value: str) -> Environment | None:
    """The key's environment if it is well-formed and its checksum matches, else None."""
    match = _KEY_RE.match(value)
    if match is None:
        return None
    head = value[:-_CHECK_LEN]
    if not hmac.compare_digest(_checksum(head), match.group(3)):
        return None
    return Environment(match.group(1))


def hash_key(value: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    """The one moment the secret exists outside the caller's hands."""

    record: ApiKey
    secret: str


@dataclass(frozen=True)
class RotatedKey(IssuedKey):
    """The new key and its secret (shown once), plus when the old key stops working."""

    old_key_valid_until: datetime


def new_key(
    *,
    organization_pk: int,
    environment: Environment,
    scopes: list[Scope],
    expires_at: datetime,
    name: str,
    pepper: str,
    persisted_only: bool = False,
    per_minute: int = DEFAULT_PER_MINUTE,
    per_day: int = DEFAULT_PER_DAY,
    rotated_from: str | None = None,
    created_by: str,
) -> IssuedKey:
    """A key's row, not yet in any session (sync or async: the caller adds and flushes it),
    and its secret, returned this once."""
    secret = new_secret(environment)
    record = ApiKey(
        public_id=new_public_id(IdPrefix.API_KEY),
        organization_id=organization_pk,
        environment=environment.value,
        name=name,
        display_prefix=secret[: len(f"ast_{environment.value}_") + 6],
        secret_hash=hash_key(secret, pepper),
        scopes=sorted(s.value for s in scopes),
        expires_at=expires_at,
        persisted_only=persisted_only,
        per_minute=per_minute,
        per_day=per_day,
        rotated_from=rotated_from,
        created_by=created_by,
    )
    return IssuedKey(record=record, secret=secret)


def successor_of(old: ApiKey, *, pepper: str, created_by: str) -> IssuedKey:
    """The key that replaces ``old`` in a rotation: a new secret and nothing else new. It keeps
    the organization, environment, name, scopes, limits, ``persisted_only`` and ``expires_at``,
    so a rotation can neither widen a key nor extend its life."""
    return new_key(
        organization_pk=old.organization_id,
        environment=Environment(old.environment),
        scopes=[Scope(s) for s in old.scopes if s in _KNOWN_SCOPES],
        expires_at=old.expires_at,
        name=old.name,
        pepper=pepper,
        persisted_only=old.persisted_only,
        per_minute=old.per_minute,
        per_day=old.per_day,
        rotated_from=old.public_id,
        created_by=created_by,
    )
