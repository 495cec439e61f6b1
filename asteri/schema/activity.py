"""Activity history: a resource's audit trail as callers see it."""

from datetime import datetime

import strawberry

from asteri.models import AuditEntry

__all__ = ["ActivityEntry"]


@strawberry.type(description="One change to a resource, read from the audit trail.")
class ActivityEntry:
    id: strawberry.ID
    action: str = strawberry.field(description="The event type, e.g. `customer.updated`.")
    occurred_at: datetime
    actor_type: str = strawberry.field(
        description="`api_key`, `member`, `operator` (the CLI) or `system` (the service)."
    )
    actor_id: str
    changed_fields: list[str]
    request_id: str | None

    @classmethod
    def from_row(cls, row: AuditEntry) -> "ActivityEntry":
        return cls(
            id=strawberry.ID(row.public_id),
            action=row.action,
            occurred_at=row.occurred_at,
            actor_type=row.actor_type,
            actor_id=row.actor_id,
            changed_fields=list(row.changed_fields),
            request_id=row.request_id,
        )
