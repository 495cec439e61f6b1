"""Document numbers (``EST-0001``, ``INV-0001``): per organization and environment, with no
gaps and no duplicates, whatever runs at once.

A number is issued inside the transaction that creates its document, by an ``UPDATE`` of the
tenant's counter row that adds one and returns the result. The row stays locked until that
transaction ends: a concurrent create waits, then reads the committed count (PostgreSQL
re-reads the row it waited for; SQLite has one writer at a time). If the create fails, its
increment rolls back with it, so no number is skipped; the unique (tenant, number) constraint
of each document table is the backstop against duplicates. A tenant's first number inserts
the counter row; two first numbers at once both try, and the loser (a unique-key conflict, in
a savepoint) takes the ``UPDATE`` path behind the winner.

A number is text, issued once and never changed: the prefix is the organization's at issue
time (``Organization.estimate_prefix``), the count at least four digits (``EST-10000`` after
``EST-9999``).
"""

from typing import Literal

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from asteri.authz.tenancy import tenant, tenant_terms
from asteri.models import Organization
from asteri.models.numbering import DocumentCounter
from asteri.resolvers.unit import UnitOfWork

__all__ = ["DocumentKind", "issue_number"]

DocumentKind = Literal["estimate", "invoice"]

_TABLE = DocumentCounter.__table__  # type: ignore[attr-defined]
_C = _TABLE.c
_PREFIX = {"estimate": Organization.estimate_prefix, "invoice": Organization.invoice_prefix}


async def _next(uow: UnitOfWork, kind: DocumentKind) -> int | None:
    counted = await uow.session.execute(
        update(_TABLE)
        .where(*tenant_terms(DocumentCounter), _C.kind == kind)
        .values(last_number=_C.last_number + 1)
        .returning(_C.last_number),
        tenant(uow.principal),
    )
    value = counted.scalar()
    return None if value is None else int(value)


async def _prefix(uow: UnitOfWork, kind: DocumentKind) -> str:
    found = await uow.session.execute(
        select(col(_PREFIX[kind])).where(col(Organization.id) == uow.principal.organization_pk)
    )
    return str(found.scalar_one())


async def issue_number(uow: UnitOfWork, kind: DocumentKind) -> str:
    """The tenant's next ``kind`` number, e.g. ``EST-0042``, held by this transaction."""
    number = await _next(uow, kind)
    if number is None:
        try:
            async with uow.session.begin_nested():
                await uow.session.execute(
                    insert(_TABLE).values(
                        organization_id=uow.principal.organization_pk,
                        environment=uow.principal.environment.value,
                        kind=kind,
                        last_number=1,
                    )
                )
            number = 1
        except IntegrityError:  # another transaction issued the first one: queue behind it
            number = await _next(uow, kind)
    if number is None:  # a conflicting insert means the row exists: never reached
        raise RuntimeError(f"no {kind} counter after its insert conflicted")
    return f"{await _prefix(uow, kind)}-{number:04d}"
