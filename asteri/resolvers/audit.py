"""The audit and event writer. Called by every write, inside the write's own transaction."""

from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col

from asteri.authz.tenancy import scoped, tenant
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.kit.pagination import Page
from asteri.models import AuditEntry, Event
from asteri.resolvers.unit import UnitOfWork

__all__ = ["activity_for", "record_change"]


def record_change(
    uow: UnitOfWork,
    *,
    resource_type: str,
    verb: str,
    resource_id: str,
    changed_fields: list[str],
    payload: dict[str, Any],
) -> Event:
    """Add the audit entry and the domain event ``<resource_type>.<verb>`` to the session."""
    principal = uow.principal
    action = f"{resource_type}.{verb}"
    uow.session.add(
        AuditEntry(
            public_id=new_public_id(IdPrefix.AUDIT_ENTRY),
            organization_id=principal.organization_pk,
            environment=principal.environment.value,
            actor_type=principal.actor_type.value,
            actor_id=principal.actor_id,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            changed_fields=sorted(changed_fields),
            request_id=uow.request_id,
        )
    )
    event = Event(
        public_id=new_public_id(IdPrefix.EVENT),
        organization_id=principal.organization_pk,
        environment=principal.environment.value,
        type=action,
        resource_type=resource_type,
        resource_id=resource_id,
        payload=payload,
        request_id=uow.request_id,
    )
    uow.session.add(event)
    return event


_HISTORY = (
    scoped(AuditEntry)
    .where(col(AuditEntry.resource_id) == bindparam("resource_id"))
    .order_by(col(AuditEntry.occurred_at).desc(), col(AuditEntry.id).desc())
    .limit(bindparam("limit"))
)


async def activity_for(uow: UnitOfWork, resource_id: str, *, first: int) -> Page[AuditEntry]:
    """A resource's history, newest first, read from the audit trail of the caller's tenant."""
    params = tenant(uow.principal, resource_id=resource_id, limit=first + 1)
    rows = await uow.rows.all(_HISTORY, params)
    return Page(items=rows[:first], has_next_page=len(rows) > first, end_cursor=None)
