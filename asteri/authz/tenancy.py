"""The one blessed organization filter. Every tenant query goes through ``scoped``.

A test fails if a resolver filters on ``organization_id`` by hand, so a forgotten filter cannot
hide in a new resource. Deleted rows are invisible here too: to callers they do not exist.
"""

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel

from asteri.authz.principal import Principal
from asteri.models.base import TenantRow

__all__ = ["scoped", "stamp", "tenant_clause"]

M = TypeVar("M", bound=TenantRow)


def tenant_clause(model: type[SQLModel], principal: Principal) -> list[ColumnElement[bool]]:
    """Organization and environment match; soft-deleted rows (where the model has them) hidden."""
    table = model.__table__  # type: ignore[attr-defined]
    clause = [
        table.c.organization_id == principal.organization_pk,
        table.c.environment == principal.environment.value,
    ]
    if "deleted_at" in table.c:
        clause.append(table.c.deleted_at.is_(None))
    return clause


def scoped(model: type[SQLModel], principal: Principal, *columns: Any) -> Select[Any]:
    """``SELECT model`` (or ``columns``) limited to the caller's organization and environment."""
    stmt = select(*columns) if columns else select(model)
    return stmt.where(*tenant_clause(model, principal))


def stamp(row: M, principal: Principal) -> M:
    """Give a new row its tenant: the caller's organization and environment, never input's."""
    row.organization_id = principal.organization_pk
    row.environment = principal.environment.value
    return row
