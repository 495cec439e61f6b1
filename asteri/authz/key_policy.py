"""What an API key may be, and when it may be rotated or revoked: the rules of the security
center's resolvers (``resolvers/api_key.py``), which the operator's CLI runs too
(``asteri.admin``), so no issuer can disagree about what a valid key is.

A refusal is one 422 naming every bad term with a JSON pointer into the security center's
input (``/input/scopes/2``); the CLI shows its sentence.
"""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Update, or_, update
from sqlmodel import col

from asteri.authz.principal import Lapse, lapse
from asteri.authz.scopes import Scope
from asteri.kit.errors import BadUserInput, Conflict, FieldError
from asteri.kit.naming import camel
from asteri.models import ApiKey

__all__ = [
    "MAX_KEY_LIFETIME",
    "MAX_LIMIT",
    "MAX_NAME_LENGTH",
    "MAX_ROTATION_OVERLAP",
    "check_overlap",
    "check_rotatable",
    "check_terms",
    "revocation",
    "rotation_claim",
]

MAX_KEY_LIFETIME = timedelta(days=365)
MAX_ROTATION_OVERLAP = timedelta(days=7)
MAX_LIMIT = 2_000_000_000  # fits the 32-bit integer columns
MAX_NAME_LENGTH = 200  # the column's
_KNOWN_SCOPES = {s.value for s in Scope}


class _Refused(Exception):
    """One term broke a rule: the sentence for the caller, and (pointer suffix, detail) pairs."""

    def __init__(self, sentence: str, *problems: tuple[str, str]) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.problems = problems


def _name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH or "\x00" in name:
        raise _Refused(
            f"A key's name is 1 to {MAX_NAME_LENGTH} characters.",
            ("", f"must be 1 to {MAX_NAME_LENGTH} characters"),
        )
    return name


def _scopes(values: Sequence[str]) -> list[Scope]:
    """Only the published scopes (``authz/scopes.py``): a typo must not mint a dead grant."""
    unknown = [(i, s) for i, s in enumerate(values) if s not in _KNOWN_SCOPES]
    if unknown:
        raise _Refused(
            f"Unknown scope(s): {', '.join(sorted({s for _, s in unknown}))}.",
            *((f"/{i}", f"unknown scope `{s}`") for i, s in unknown),
        )
    if not values:
        raise _Refused("A key needs at least one scope.", ("", "needs at least one scope"))
    return sorted({Scope(s) for s in values})


def _expires_in(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= MAX_KEY_LIFETIME:
        raise _Refused(
            f"A key must expire within {MAX_KEY_LIFETIME.days} days.",
            ("", f"must be 1 to {int(MAX_KEY_LIFETIME.total_seconds()):,} seconds"),
        )
    return value


def _limit(value: int) -> int:
    if not 1 <= value <= MAX_LIMIT:
        raise _Refused(
            f"Rate limits must be between 1 and {MAX_LIMIT:,} requests.",
            ("", f"must be 1 to {MAX_LIMIT:,}"),
        )
    return value


_RULES: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "scopes": _scopes,
    "expires_in": _expires_in,
    "per_minute": _limit,
    "per_day": _limit,
}


def check_terms(**terms: Any) -> dict[str, Any]:
    """Check the given terms of a key (``name``, ``scopes``, ``expires_in``, ``per_minute``,
    ``per_day``; any subset, so a patch checks only what it changes) and return them cleaned
    (the name stripped, the scopes parsed and sorted). None is refused: no term may be cleared.
    Every bad term is named at once, in one 422."""
    cleaned: dict[str, Any] = {}
    sentences: list[str] = []
    errors: list[FieldError] = []
    for term, value in terms.items():
        pointer = f"/input/{camel(term)}"
        try:
            if value is None:
                raise _Refused(f"`{camel(term)}` cannot be cleared.", ("", "may not be null"))
            cleaned[term] = _RULES[term](value)
        except _Refused as refused:
            sentences.append(refused.sentence)
            errors += [FieldError(pointer + suffix, detail) for suffix, detail in refused.problems]
    if errors:
        raise BadUserInput(" ".join(sentences), errors=errors)
    return cleaned


def check_overlap(overlap: timedelta) -> None:
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise BadUserInput(
            f"The rotation overlap must be between 0 and {MAX_ROTATION_OVERLAP.days} days.",
            errors=[
                FieldError(
                    "/input/overlapSeconds",
                    f"must be 0 to {int(MAX_ROTATION_OVERLAP.total_seconds()):,} seconds",
                )
            ],
        )


def check_rotatable(key: ApiKey, now: datetime) -> None:
    """A revoked, expired or already rotated key is refused (409: the key's state, not the
    input, is wrong): rotating it would hand out a working secret for a key that is meant to
    stop (or has stopped) working."""
    lapsed = lapse(key.revoked_at, key.expires_at, now)
    if lapsed is Lapse.REVOKED:
        raise Conflict(
            f"API key `{key.public_id}` is revoked; a revoked key cannot be rotated.",
            reason="key_revoked",
        )
    if key.revoked_at is not None:
        raise Conflict(
            f"API key `{key.public_id}` was already rotated and stops working at "
            f"{key.revoked_at.isoformat()}; rotate its successor instead.",
            reason="key_already_rotated",
        )
    if lapsed is Lapse.EXPIRED:
        raise Conflict(
            f"API key `{key.public_id}` has expired; create a new key instead.",
            reason="key_expired",
        )


def rotation_claim(key_pk: int, revoke_at: datetime) -> Update:
    """Schedule the old key's revocation, only if nothing else did first: two concurrent
    rotations cannot both succeed (the loser updates no row). Bumps ``version``, so a cached
    authentication of the key is re-decided on its next read."""
    return (
        update(ApiKey)
        .where(col(ApiKey.id) == key_pk, col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=revoke_at, version=col(ApiKey.version) + 1)
    )


def revocation(which: ColumnElement[bool], now: datetime) -> Update:
    """Revoke now. A key in a rotation overlap (revocation scheduled later) is revoked now too;
    an already revoked key is left as it is (no row updated). Bumps ``version``."""
    return (
        update(ApiKey)
        .where(which, or_(col(ApiKey.revoked_at).is_(None), col(ApiKey.revoked_at) > now))
        .values(revoked_at=now, version=col(ApiKey.version) + 1)
    )
