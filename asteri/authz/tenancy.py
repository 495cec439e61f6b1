"""The one blessed organization filter. Every tenant query goes through ``scoped``.

``scoped(model)`` is built once per model with bind parameters for the tenant; a query runs
with ``tenant(principal)`` as its parameters. A statement run without them fails loudly (a
missing bind value), never silently unfiltered. A test fails if a resolver filters on
``organization_id`` by hand. Deleted rows are invisible here too: to callers they do not exist.
"""

from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlmodel import SQLModel

from asteri.authz.principal import Principal
from asteri.models.base import TenantRow

__all__ = ["scoped", "stamp", "tenant"]

M = TypeVar("M", bound=TenantRow)


@cache
def scoped(model: type[SQLModel]) -> Select[Any]:
    """``SELECT model`` limited to one organization and environment (bound at execution)."""
    table = model.__table__  # type: ignore[attr-defined]
    clause = [
        table.c.organization_id == bindparam("tenant_org"),
        table.c.environment == bindparam("tenant_env"),
    ]
    if "deleted_at" in table.c:
        clause.append(table.c.deleted_at.is_(None))
    return select(model).where(*clause)


def tenant(principal: Principal, **params: Any) -> dict[str, Any]:
    """The bind parameters of ``scoped`` for the caller, plus a query's own."""
    return {
        "tenant_org": principal.organization_pk,
        "tenant_env": principal.environment.value,
        **params,
    }


def stamp(row: M, principal: Principal) -> M:
    """Give a new row its tenant: the caller's organization and environment, never input's."""
    row.organization_id = principal.organization_pk
    row.environment = principal.environment.value
    return row
