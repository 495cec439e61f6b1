"""The audit log: who changed what, when, through which request — every audit entry of the
organization's environment. Read-only (``Log``), by owners' and admins' sessions only, as the
security center is. ``audit.py`` writes the entries; this module reads them."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import String, cast
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.kit.errors import BadUserInput, FieldError
from asteri.kit.ids import IdPrefix
from asteri.kit.pagination import Page
from asteri.models import AuditEntry
from asteri.resolvers import crud
from asteri.resolvers.crud import Log, Sort, Stability
from asteri.resolvers.unit import UnitOfWork

__all__ = ["AUDIT_EVENTS", "AuditEventFilter", "AuditEventOrder", "list_audit_events", "read"]

AUDIT_EVENTS = Log(
    model=AuditEntry,
    name="audit_event",
    prefix=IdPrefix.AUDIT_ENTRY,
    stability=Stability.AVAILABLE,
)

# The names of public fields, as ``changed_fields`` records them.
_FIELD_NAME = "abcdefghijklmnopqrstuvwxyz0123456789_"


class AuditEventOrder(Enum):
    OCCURRED_AT_DESC = Sort("occurred_at_desc", AuditEntry.occurred_at, descending=True)  # type: ignore[arg-type]
    OCCURRED_AT_ASC = Sort("occurred_at_asc", AuditEntry.occurred_at, descending=False)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AuditEventFilter:
    """Also the GraphQL ``AuditEventFilter`` (``schema.inputs.filter_input``)."""

    actor_type: str | None = field(
        default=None,
        metadata={"description": "`api_key`, `member`, `operator` (the CLI) or `system`."},
    )
    actor_id: str | None = field(
        default=None, metadata={"description": "One actor: an API key's or member's id."}
    )
    action: str | None = field(
        default=None, metadata={"description": "An event type, e.g. `customer.updated`."}
    )
    resource_type: str | None = field(
        default=None, metadata={"description": "e.g. `customer`, `api_key`."}
    )
    resource_id: str | None = field(default=None, metadata={"description": "One object's id."})
    changed_field: str | None = field(
        default=None,
        metadata={"description": "Entries that changed this public field (`email`)."},
    )
    request_id: str | None = field(
        default=None, metadata={"description": "One request's entries: its `x-request-id`."}
    )
    occurred_since: datetime | None = field(
        default=None, metadata={"description": "Entries at or after this time."}
    )
    occurred_before: datetime | None = field(
        default=None, metadata={"description": "Entries before this time."}
    )


def _changed(name: str) -> ColumnElement[bool]:
    """``changed_fields`` (a JSON list of field names) holds ``name``: its quoted form in the
    stored text, which is the same on SQLite and PostgreSQL. Only field-name characters are
    taken, so nothing in ``name`` can act as a ``LIKE`` wildcard but ``_``, escaped here."""
    if not name or set(name) - set(_FIELD_NAME):
        raise BadUserInput(
            "`changedField` is a public field's name: lowercase letters, digits and `_`.",
            errors=[FieldError("/filter/changedField", "not a field name")],
        )
    escaped = name.replace("_", "\\_")
    return cast(col(AuditEntry.changed_fields), String).like(f'%"{escaped}"%', escape="\\")


def _where(f: AuditEventFilter) -> list[ColumnElement[bool]]:
    clauses = crud.equal_to(
        f,
        {
            "actor_type": col(AuditEntry.actor_type),
            "actor_id": col(AuditEntry.actor_id),
            "action": col(AuditEntry.action),
            "resource_type": col(AuditEntry.resource_type),
            "resource_id": col(AuditEntry.resource_id),
            "request_id": col(AuditEntry.request_id),
        },
    )
    if f.changed_field is not None:
        clauses.append(_changed(f.changed_field))
    clauses += crud.occurred_between(
        col(AuditEntry.occurred_at),
        f.occurred_since,
        f.occurred_before,
        names=("occurredSince", "occurredBefore"),
    )
    return clauses


async def list_audit_events(
    uow: UnitOfWork,
    *,
    filter: AuditEventFilter,
    sort: AuditEventOrder,
    first: int,
    after: str | None,
) -> Page[Any]:
    return await crud.list_page(
        uow, AUDIT_EVENTS, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    return await crud.read(uow, AUDIT_EVENTS, public_id)
