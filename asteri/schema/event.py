"""The event log in the public schema (``manage:webhooks``): each event as webhook receivers
get it, with the request and the audit entry that caused it."""

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.resolvers import event as events
from asteri.schema.context import RequestContext
from asteri.schema.events import PAYLOAD_VERSION
from asteri.schema.fields import RootFields, query
from asteri.schema.inputs import filter_input
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.scalars import JSONObject

__all__ = ["Event", "EventQueries"]

Ctx = Info[RequestContext, None]


@strawberry.type(
    description="Something that happened to an object of the organization: what webhook "
    "endpoints receive, and what caused it."
)
class Event:
    id: strawberry.ID = strawberry.field(description="`evt_…`.")
    type: str = strawberry.field(description="`<resource>.<verb>`: `GET /event_types` lists them.")
    resource_type: str = strawberry.field(description="The object's resource, e.g. `customer`.")
    resource_id: str = strawberry.field(description="The object's id, e.g. `cus_…`.")
    occurred_at: datetime = strawberry.field(description="The payload's `timestamp`.")
    request_id: str | None = strawberry.field(
        description="The `x-request-id` of the request that caused it; null for the "
        "service's own events."
    )
    audit_event_id: strawberry.ID | None = strawberry.field(
        description="The audit entry written with it (`aud_…`, `GET /audit_events/{id}`)."
    )
    payload_version: int = strawberry.field(description="The version of the payload's format.")
    data: JSONObject = strawberry.field(
        description="The payload's `data`: `object` is the object's REST form when the event "
        "occurred, as webhook receivers get it."
    )

    @classmethod
    def from_row(cls, row: Any) -> "Event":
        return EVENT_ROWS.build(row)


EVENT_ROWS = RowMap(
    Event,
    id="public_id",
    audit_event_id="audit_entry_id",
    payload_version=lambda _row: PAYLOAD_VERSION,
    data=lambda row: events.data_of(row.payload),
)

EventOrder = events.EventOrder
strawberry.enum(EventOrder, description="Orderings for the event log.")

EventFilter = events.EventFilter
filter_input(EventFilter, description="Narrow the event log.")


@strawberry.type
class EventQueries:
    @query(Scope.MANAGE_WEBHOOKS, description="An event by id; null with NOT_FOUND if absent.")
    async def event(self, info: Ctx, id: strawberry.ID) -> Event | None:
        return Event.from_row(await events.read(info.context.uow, str(id)))

    @query(
        Scope.MANAGE_WEBHOOKS,
        description="The event log of the organization's environment, newest first unless "
        "`orderBy` says.",
    )
    async def events(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: EventFilter | None = None,
        order_by: EventOrder = EventOrder.OCCURRED_AT_DESC,
    ) -> Connection[Event]:
        page = await events.list_events(
            info.context.uow,
            filter=filter or EventFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, Event.from_row)


ROOT_FIELDS = RootFields(queries=(EventQueries,))
