"""API keys in the security center: an owner's or admin's session lists, creates, rotates,
revokes and changes its organization's keys, in both environments.

The one implementation of key management: the operator's CLI (``asteri.admin``) runs these
functions too, with an operator principal of the key's tenant. So who may call them is not
decided here but by the caller: the schema's ``@requiresRole`` (run by compiled reads and the
REST facade as well, ``schema/permissions_runner.py``), or being the operator. The rules of
what a key may be are ``authz/key_policy.py``'s.

Every change that alters what a key may do bumps its ``version``, so a cached authentication of
that key (``authz/authenticate.py``) is re-decided on its very next read.
"""

from datetime import timedelta
from typing import Annotated, Any, cast

from pydantic import BaseModel, Field
from sqlalchemy import CursorResult
from sqlmodel import col

from asteri.authz.key_policy import (
    MAX_KEY_LIFETIME,
    MAX_LIMIT,
    MAX_NAME_LENGTH,
    MAX_ROTATION_OVERLAP,
    check_overlap,
    check_rotatable,
    check_terms,
    revocation,
    rotation_claim,
)
from asteri.authz.keys import IssuedKey, RotatedKey, new_key, successor_of
from asteri.authz.scopes import Scope
from asteri.kit.db import utcnow
from asteri.kit.errors import Conflict
from asteri.kit.ids import IdPrefix
from asteri.kit.pagination import Page
from asteri.models import ApiKey, Environment
from asteri.resolvers import crud
from asteri.resolvers.crud import Resource, Snapshot, Sort, Stability
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import non_blank

__all__ = ["API_KEYS", "create", "get", "list_api_keys", "read", "revoke", "rotate", "update"]

API_KEYS = Resource(
    model=ApiKey,
    name="api_key",
    prefix=IdPrefix.API_KEY,
    every_environment=True,
    stability=Stability.AVAILABLE,
    sample=lambda s: {
        "name": f"Billing sync{s.distinct}",
        "scopes": ["read:customers", "write:customers"],
        "expiresIn": 86_400,
        "perMinute": 30,
    },
    change={"name": "Billing sync (nightly)", "scopes": ["read:team"], "perDay": 500},
    invalid={"name": ""},
    actions=("rotate", "revoke"),
    action_events={"rotate": "rotated", "revoke": "revoked"},
    action_samples={"rotate": lambda _s: {"overlapSeconds": 3600}},
    one_time_secrets=frozenset({"Create", "Rotate"}),
)

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]


class ApiKeyFields(BaseModel):
    """A key's terms as the schemas declare them (``registry.validation_model``). The rules
    are ``authz.key_policy``'s, which the CLI runs too; its constants are these bounds, and a
    test holds the two to the same answers at each bound."""

    name: Annotated[str, non_blank(MAX_NAME_LENGTH)]
    scopes: list[Scope] = Field(min_length=1)
    expires_in: Annotated[int, Field(ge=1, le=int(MAX_KEY_LIFETIME.total_seconds()))]
    per_minute: Limit
    per_day: Limit


class RotateApiKeyFields(BaseModel):
    overlap_seconds: Annotated[int, Field(ge=0, le=int(MAX_ROTATION_OVERLAP.total_seconds()))]


_NEWEST_FIRST = Sort("created_at_desc", ApiKey.created_at, descending=True)  # type: ignore[arg-type]
# Applied with a Core UPDATE, then re-read: nothing stale or expired is left in the session.
_NO_SYNC = {"synchronize_session": False}


async def list_api_keys(uow: UnitOfWork, *, first: int, after: str | None) -> Page[Any]:
    """Every key of the organization, both environments, revoked and expired ones too."""
    return await crud.list_page(
        uow, API_KEYS, where=[], sort=_NEWEST_FIRST, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    """For a query: the row's columns, no ORM object; 404 for another organization's key."""
    return await crud.read(uow, API_KEYS, public_id)


async def get(uow: UnitOfWork, public_id: str, *, reload: bool = False) -> ApiKey:
    row: ApiKey = await crud.get(uow, API_KEYS, public_id, reload=reload)
    return row


async def create(
    uow: UnitOfWork, values: dict[str, Any], *, pepper: str, snapshot: Snapshot
) -> IssuedKey:
    """``values``: name, scopes, expires_in (seconds), environment (None: the session's),
    per_minute, per_day, persisted_only. The secret is returned here and never stored."""
    principal = uow.principal
    terms = check_terms(
        name=values["name"],
        scopes=values["scopes"],
        expires_in=timedelta(seconds=values["expires_in"]),
        per_minute=values["per_minute"],
        per_day=values["per_day"],
    )
    environment = values.get("environment")
    issued = new_key(
        organization_pk=principal.organization_pk,
        environment=Environment(environment) if environment else principal.environment,
        scopes=terms["scopes"],
        expires_at=utcnow() + terms["expires_in"],
        name=terms["name"],
        pepper=pepper,
        persisted_only=values["persisted_only"],
        per_minute=terms["per_minute"],
        per_day=terms["per_day"],
        created_by=principal.actor,
    )
    uow.session.add(issued.record)
    await uow.session.flush()
    crud.record(uow, API_KEYS, issued.record, API_KEYS.created, sorted(values), snapshot)
    return issued


async def update(
    uow: UnitOfWork, public_id: str, changes: dict[str, Any], snapshot: Snapshot
) -> ApiKey:
    """A patch of name, scopes, per_minute and per_day (absent: untouched; none clears)."""
    row = await get(uow, public_id)
    terms = check_terms(**changes)
    if "scopes" in terms:
        terms["scopes"] = [scope.value for scope in terms["scopes"]]
    return await crud.update(uow, API_KEYS, row, terms, snapshot)  # ``version`` counts itself


async def revoke(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> ApiKey:
    """Revoke now, also during a rotation's overlap. Revoking a revoked key changes nothing and
    records nothing."""
    row = await get(uow, public_id)
    revoked = await uow.session.execute(
        revocation(col(ApiKey.id) == row.id, utcnow()).execution_options(**_NO_SYNC)
    )
    if _rowcount(revoked) == 0:
        return row
    row = await get(uow, public_id, reload=True)  # the columns the UPDATE set
    crud.record(uow, API_KEYS, row, API_KEYS.event_of("revoke"), ["revoked_at"], snapshot)
    return row


async def rotate(
    uow: UnitOfWork, public_id: str, *, overlap: timedelta, pepper: str, snapshot: Snapshot
) -> RotatedKey:
    """A new secret with the old key's policy; the old key works ``overlap`` longer (0 to 7
    days). The audit entry and event name the new key, whose ``rotated_from`` names the old."""
    check_overlap(overlap)
    old = await get(uow, public_id)
    now = utcnow()
    check_rotatable(old, now)
    assert old.id is not None
    revoke_at = now + overlap
    claimed = await uow.session.execute(
        rotation_claim(old.id, revoke_at).execution_options(**_NO_SYNC)
    )
    if _rowcount(claimed) != 1:
        raise Conflict(f"API key `{public_id}` was rotated or revoked concurrently.")
    issued = successor_of(old, pepper=pepper, created_by=uow.principal.actor)
    uow.session.add(issued.record)
    await uow.session.flush()
    crud.record(uow, API_KEYS, issued.record, API_KEYS.event_of("rotate"), [], snapshot)
    return RotatedKey(
        record=issued.record,
        secret=issued.secret,
        old_key_valid_until=min(revoke_at, old.expires_at),
    )


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount
