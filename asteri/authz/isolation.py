"""The guard at execution: a statement that reads a tenant table without the tenant filter
does not run, whichever way it is sent (ORM session, Core, the psycopg read path, compiled
reads), on either backend.

The tenant filter is what ``tenancy.scoped`` writes: ``<table>.organization_id = :tenant_org``
and ``<table>.environment = :tenant_env`` as top-level ``AND`` terms of the ``WHERE`` of the
very ``SELECT`` that reads the table. The guard looks for exactly those terms, for every tenant
table (or alias of one) in every ``SELECT`` of a statement: joins, subqueries, ``EXISTS``,
unions. A table correlated from an enclosing ``SELECT`` is that ``SELECT``'s to filter. So a
resolver that forgets the filter, joins a second tenant table without one, hides an unfiltered
subquery or sends raw SQL fails loudly (``TenantFilterMissing``, an incident: a bug, never a
caller's fault) instead of answering with another organization's rows.

Tenant tables are discovered, never listed: every table with an ``organization_id`` column.
A table whose rows belong to the whole organization (``info={"tenancy": "organization"}``,
API keys) needs only the organization term.

Writes: ``INSERT``s take their tenant from ``tenancy.stamp``, and ``UPDATE``/``DELETE`` change
rows by the primary keys of rows read through the filter; their nested ``SELECT``s are checked
like any other. On PostgreSQL, row-level security holds writes to the tenant too
(``kit/row_security.py``).

The exceptions are few and named (``Exemption``): reads that must find a row before any tenant
is known. Each is marked on its statement with ``exempt``. Operator tools (migrations,
creating an organization, the CLI's lookup of which tenant a key id belongs to, the tests'
assertions) use their own engine (``kit.db.create_sync_engine``), which has no guard: they act
across tenants on purpose, as the database's own user. Every request, and every change the
CLI makes to a key, goes through ``request_database``.
"""

from collections.abc import Iterable
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ClauseElement,
    ColumnClause,
    TextClause,
)
from sqlalchemy.sql.selectable import AliasedReturnsRows, FromClause, Join, Select, TableClause
from sqlmodel import SQLModel

import asteri.models  # noqa: F401  (every table registered before discovery)
from asteri.kit.db import Database
from asteri.kit.row_security import TENANT_BINDS
from asteri.kit.settings import Settings

__all__ = [
    "TENANT_BINDS",
    "Exemption",
    "StatementGuard",
    "TenantFilterMissing",
    "check_statement",
    "exempt",
    "exemption_of",
    "organization_wide",
    "request_database",
    "tenant_tables",
]

S = TypeVar("S", bound=Select[Any])

_EXEMPTION_OPTION = "asteri_tenancy_exemption"


class Exemption(StrEnum):
    """Reads allowed without the tenant filter, each for a reason no tenant filter can meet."""

    # Authentication finds a key by the digest of its secret, before any tenant is known.
    KEY_LOOKUP = "key_lookup"
    # A verified session's person finds their membership in the organization the request names.
    MEMBERSHIP_LOOKUP = "membership_lookup"


class TenantFilterMissing(RuntimeError):
    """A statement would read a tenant table without the tenant filter: a bug, refused."""


def exempt(statement: S, exemption: Exemption) -> S:
    """``statement``, allowed to read without the tenant filter for a named reason."""
    return statement.execution_options(**{_EXEMPTION_OPTION: exemption.value})


def exemption_of(statement: Any) -> Exemption | None:
    options = getattr(statement, "_execution_options", None) or {}
    value = options.get(_EXEMPTION_OPTION)
    return None if value is None else Exemption(value)


@cache
def tenant_tables() -> frozenset[Table]:
    """Every table that holds one organization's rows (it has ``organization_id``)."""
    return frozenset(t for t in SQLModel.metadata.tables.values() if "organization_id" in t.c)


def organization_wide(table: Table) -> bool:
    """Rows of the whole organization (both environments), e.g. API keys."""
    return table.info.get("tenancy") == "organization"


def _table_of(from_: FromClause) -> Table | None:
    """The tenant table behind a FROM element (a table or an alias of one)."""
    element: Any = from_._deannotate()
    if isinstance(element, AliasedReturnsRows):  # an alias of a table (a subquery is not one)
        element = element.element
    if isinstance(element, Table) and element in tenant_tables():
        return element
    return None


def _flat_froms(froms: Iterable[FromClause]) -> list[FromClause]:
    out: list[FromClause] = []
    for from_ in froms:
        if isinstance(from_, Join):
            out += _flat_froms([from_.left, from_.right])
        else:
            out.append(from_)
    return out


def _conjuncts(criteria: Iterable[ClauseElement]) -> list[ClauseElement]:
    out: list[ClauseElement] = []
    for criterion in criteria:
        if isinstance(criterion, BooleanClauseList) and criterion.operator is operators.and_:
            out += _conjuncts(criterion.clauses)
        else:
            out.append(criterion)
    return out


def _filtered(select: Select[Any]) -> set[tuple[Any, str]]:
    """(FROM element, column) pairs compared with their tenant bind in ``select``'s WHERE."""
    found: set[tuple[Any, str]] = set()
    for term in _conjuncts(select._where_criteria):
        if not isinstance(term, BinaryExpression) or term.operator is not operators.eq:
            continue
        for column, value in ((term.left, term.right), (term.left, term.right)[::-1]):
            if (
                isinstance(column, ColumnClause)
                and isinstance(value, BindParameter)
                and TENANT_BINDS.get(column.name) == value.key
                and column.table is not None
            ):
                found.add((column.table._deannotate(), column.name))
    return found


def _check_select(select: Select[Any], enclosing: frozenset[Any]) -> frozenset[Any]:
    froms = [f._deannotate() for f in _flat_froms(select.get_final_froms())]
    correlated = set(froms) & enclosing if select._auto_correlate else set()
    correlated |= {c._deannotate() for c in select._correlate or ()} & enclosing
    filtered = _filtered(select)
    for from_ in froms:
        if isinstance(from_, TextClause):
            raise TenantFilterMissing("a FROM written as text cannot be checked for its tenant")
        table = _table_of(from_)
        if table is None or from_ in correlated:
            continue
        needed = ["organization_id"] if organization_wide(table) else list(TENANT_BINDS)
        missing = [c for c in needed if (from_, c) not in filtered]
        if missing:
            raise TenantFilterMissing(
                f"a SELECT reads {table.name} without the tenant filter on "
                f"{', '.join(missing)}: build it with authz.tenancy.scoped"
            )
    return enclosing | frozenset(froms)


def _walk(element: ClauseElement, enclosing: frozenset[Any]) -> None:
    if isinstance(element, TextClause):
        raise TenantFilterMissing("SQL text cannot be checked for its tenant filter")
    if isinstance(element, Select):
        enclosing = _check_select(element, enclosing)
    elif isinstance(element, AliasedReturnsRows):
        enclosing = frozenset()  # a subquery in FROM (or a CTE) correlates with nothing
    elif isinstance(element, TableClause | ColumnClause | BindParameter):
        return  # leaves: nothing below them reads rows
    for child in element.get_children():
        _walk(child, enclosing)


def check_statement(statement: Any) -> None:
    """Refuse ``statement`` (``TenantFilterMissing``) unless every tenant table it reads is
    filtered to the tenant, or it carries a named ``Exemption``."""
    if exemption_of(statement) is not None:
        return
    if isinstance(statement, str) or isinstance(getattr(statement, "sql", None), str):
        raise TenantFilterMissing("raw SQL cannot be checked for its tenant filter")
    if isinstance(statement, ClauseElement):
        _walk(statement, frozenset())
    # Anything else (DDL objects, default generators) reads no tenant rows.


class StatementGuard:
    """``check_statement`` once per statement shape (SQLAlchemy's cache key): the walk costs
    about a compilation, the lookup nothing. Installed on every request-path ``Database``."""

    def __init__(self) -> None:
        self._passed: set[Any] = set()

    def __call__(self, statement: Any, cache_key: Any = None) -> None:
        if cache_key is None and isinstance(statement, ClauseElement):
            cache_key = statement._generate_cache_key()
        key = None if cache_key is None else cache_key.key
        if key is not None and key in self._passed:
            return
        check_statement(statement)
        if key is not None:
            self._passed.add(key)


def request_database(settings: Settings) -> Database:
    """The request path's database: guarded, and on PostgreSQL running as the app role under
    row security. Without the tenant filter (a test-only setting) there is nothing to guard."""
    guard = StatementGuard() if settings.tenant_filter else None
    return Database(settings.database_url, guard=guard, role=settings.database_role)
