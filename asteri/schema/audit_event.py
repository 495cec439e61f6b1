"""The audit log in the public schema: owners' and admins' sessions only (``@requiresRole``),
never a key, as the security center."""

from typing import Any

import strawberry
from strawberry.types import Info

from asteri.resolvers import audit_event as audit
from asteri.schema.activity import ActivityEntry
from asteri.schema.context import RequestContext
from asteri.schema.fields import RootFields, key_manager_query
from asteri.schema.inputs import filter_input
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap

__all__ = ["AuditEvent", "AuditEventQueries"]

Ctx = Info[RequestContext, None]


@strawberry.type(
    description="One change in the organization: who made it, to what, which fields, "
    "through which request. Its event (`GET /events?request_id=…`) carries the same request id."
)
class AuditEvent(ActivityEntry):
    resource_type: str = strawberry.field(description="e.g. `customer`, `api_key`.")
    resource_id: str = strawberry.field(description="The changed object's id.")

    @classmethod
    def from_row(cls, row: Any) -> "AuditEvent":
        return AUDIT_EVENT_ROWS.build(row)


AUDIT_EVENT_ROWS = RowMap(AuditEvent, id="public_id")

AuditEventOrder = audit.AuditEventOrder
strawberry.enum(AuditEventOrder, description="Orderings for the audit log.")

AuditEventFilter = audit.AuditEventFilter
filter_input(AuditEventFilter, description="Narrow the audit log.")


@strawberry.type
class AuditEventQueries:
    @key_manager_query(description="An audit entry by id; null with NOT_FOUND if absent.")
    async def audit_event(self, info: Ctx, id: strawberry.ID) -> AuditEvent | None:
        return AuditEvent.from_row(await audit.read(info.context.uow, str(id)))

    @key_manager_query(
        description="The audit log of the organization's environment, newest first unless "
        "`orderBy` says."
    )
    async def audit_events(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: AuditEventFilter | None = None,
        order_by: AuditEventOrder = AuditEventOrder.OCCURRED_AT_DESC,
    ) -> Connection[AuditEvent]:
        page = await audit.list_audit_events(
            info.context.uow,
            filter=filter or AuditEventFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, AuditEvent.from_row)


ROOT_FIELDS = RootFields(queries=(AuditEventQueries,))
