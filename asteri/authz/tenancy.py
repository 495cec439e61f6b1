"""The one blessed organization filter. Every tenant query goes through ``scoped``.

``scoped(model)`` is built once per model with bind parameters for the tenant; a query runs
with ``tenant(principal)`` as its parameters. A statement run without them fails loudly (a
missing bind value), never silently unfiltered, and a statement that reads a tenant table
without this filter is refused before it runs (``authz/isolation.py``). A subquery over another
tenant table takes ``tenant_terms`` of its own. Deleted rows are invisible here too: to
callers they do not exist.

The filter also carries the credential when authentication came from the key cache: rows are
visible only while that key still exists at the version the cache saw (revoking, rotating or
changing a key bumps it) and is neither revoked nor expired at the time of the read. So a
cached authentication never outlives the key by even one request: a read it can no longer
make finds nothing, and the REST facade then authenticates afresh (401, 403 or the answer).
For a principal authenticated against the database in this request the clause is a constant
``NULL IS NULL``.

One kind of row is organization-wide rather than per environment: an organization's API keys,
which its owners and admins manage in both environments at once (``every_environment``). The
organization clause is never dropped.
"""

from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Integer, Select, bindparam, exists, or_, select
from sqlmodel import SQLModel

from asteri.authz.isolation import TENANT_BINDS
from asteri.authz.principal import Principal
from asteri.kit.db import UtcDateTime, utcnow
from asteri.kit.settings import get_settings
from asteri.models import ApiKey
from asteri.models.base import TenantRow

__all__ = ["scoped", "stamp", "tenant", "tenant_terms"]

M = TypeVar("M", bound=TenantRow)


# Aliased, so the check stays about the caller's key even when the rows read are API keys.
_KEY = ApiKey.__table__.alias("credential").c  # type: ignore[attr-defined]
_NOW = bindparam("tenant_now", type_=UtcDateTime)
_CREDENTIAL_STILL_VALID = or_(
    bindparam("tenant_key", type_=Integer).is_(None),
    exists().where(
        _KEY.organization_id == bindparam(TENANT_BINDS["organization_id"]),
        _KEY.id == bindparam("tenant_key", type_=Integer),
        _KEY.version == bindparam("tenant_key_version", type_=Integer),
        or_(_KEY.revoked_at.is_(None), _KEY.revoked_at > _NOW),
        _KEY.expires_at > _NOW,
    ),
)


def tenant_terms(model: type[SQLModel], *, every_environment: bool = False) -> list[Any]:
    """The tenant filter's terms for ``model``'s table, to ``AND`` into a ``WHERE`` (none
    when the test-only setting ``ASTERI_TENANT_FILTER=false`` leaves it to row security)."""
    if not get_settings().tenant_filter:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    terms = [table.c.organization_id == bindparam(TENANT_BINDS["organization_id"])]
    if not every_environment:
        terms.append(table.c.environment == bindparam(TENANT_BINDS["environment"]))
    return terms


@cache
def scoped(model: type[SQLModel], *, every_environment: bool = False) -> Select[Any]:
    """``SELECT model`` limited to one organization and environment (bound at execution);
    ``every_environment``: to the organization only."""
    table = model.__table__  # type: ignore[attr-defined]
    clause = tenant_terms(model, every_environment=every_environment)
    if "deleted_at" in table.c:
        clause.append(table.c.deleted_at.is_(None))
    clause.append(_CREDENTIAL_STILL_VALID)
    return select(model).where(*clause)


def tenant(principal: Principal, **params: Any) -> dict[str, Any]:
    """The bind parameters of ``scoped`` for the caller, plus a query's own."""
    return {
        TENANT_BINDS["organization_id"]: principal.organization_pk,
        TENANT_BINDS["environment"]: principal.environment.value,
        "tenant_key": principal.cached_key_pk,
        "tenant_key_version": principal.cached_key_version,
        "tenant_now": utcnow() if principal.cached_key_pk is not None else None,
        **params,
    }


def stamp(row: M, principal: Principal) -> M:
    """Give a new row its tenant: the caller's organization and environment, never input's."""
    row.organization_id = principal.organization_pk
    row.environment = principal.environment.value
    return row
