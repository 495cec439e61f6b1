"""The event log: every event the organization's writes recorded, in its environment — the
webhooks' outbox, read back. Read-only (``Log``); reading it needs ``manage:webhooks``.

Each event names the request that caused it (``request_id``) and the audit entry written with
it (``audit_entry_id``), and each webhook attempt names its event: the trace from a request to
its deliveries.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.kit.ids import IdPrefix
from asteri.kit.pagination import Page
from asteri.models import Event
from asteri.resolvers import crud
from asteri.resolvers.crud import Log, Sort, Stability
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import refuse_nul

__all__ = ["EVENTS", "EventFilter", "EventOrder", "data_of", "list_events", "read"]

EVENTS = Log(model=Event, name="event", prefix=IdPrefix.EVENT, stability=Stability.AVAILABLE)


def data_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload's ``data`` (version 1): the object's public snapshot, as stored with the
    event. Webhook bodies and the event log show the same."""
    return {"object": payload}


class EventOrder(Enum):
    OCCURRED_AT_DESC = Sort("occurred_at_desc", Event.occurred_at, descending=True)  # type: ignore[arg-type]
    OCCURRED_AT_ASC = Sort("occurred_at_asc", Event.occurred_at, descending=False)  # type: ignore[arg-type]


@dataclass(frozen=True)
class EventFilter:
    """Also the GraphQL ``EventFilter`` (``schema.inputs.filter_input``)."""

    type: str | None = field(
        default=None,
        metadata={"description": "An event type (`customer.created`), or `<resource>.*`."},
    )
    resource_id: str | None = field(
        default=None, metadata={"description": "The events of one object (`cus_…`)."}
    )
    request_id: str | None = field(
        default=None,
        metadata={"description": "The events of one request: its `x-request-id`."},
    )
    occurred_since: datetime | None = field(
        default=None, metadata={"description": "Events at or after this time."}
    )
    occurred_before: datetime | None = field(
        default=None, metadata={"description": "Events before this time."}
    )


def _where(f: EventFilter) -> list[ColumnElement[bool]]:
    clauses = crud.equal_to(
        f, {"resource_id": col(Event.resource_id), "request_id": col(Event.request_id)}
    )
    if f.type is not None:
        refuse_nul(f.type, "/filter/type")
        resource, _, verb = f.type.partition(".")
        clauses.append(
            col(Event.resource_type) == resource if verb == "*" else col(Event.type) == f.type
        )
    clauses += crud.occurred_between(
        col(Event.occurred_at),
        f.occurred_since,
        f.occurred_before,
        names=("occurredSince", "occurredBefore"),
    )
    return clauses


async def list_events(
    uow: UnitOfWork, *, filter: EventFilter, sort: EventOrder, first: int, after: str | None
) -> Page[Any]:
    return await crud.list_page(
        uow, EVENTS, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    return await crud.read(uow, EVENTS, public_id)
