"""The audit and event writer. Called by every write, inside the write's own transaction."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from asteri.authz.principal import ActorType, Principal
from asteri.authz.tenancy import scoped, tenant
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.models import AuditEntry, Environment, Event
from asteri.resolvers.unit import UnitOfWork

__all__ = ["activity_of_many", "change_records", "record_change", "record_system_change"]


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
    entry, event = change_records(
        uow.principal,
        uow.request_id,
        resource_type=resource_type,
        verb=verb,
        resource_id=resource_id,
        changed_fields=changed_fields,
        payload=payload,
    )
    uow.session.add(entry)
    uow.session.add(event)
    return event


def change_records(
    principal: Principal,
    request_id: str | None,
    *,
    resource_type: str,
    verb: str,
    resource_id: str,
    changed_fields: list[str],
    payload: dict[str, Any],
) -> tuple[AuditEntry, Event]:
    """The audit entry and the event of one change, for the caller's transaction to add (the
    request path through ``record_change``; the CLI's sync sessions directly)."""
    action = f"{resource_type}.{verb}"
    entry = AuditEntry(
        public_id=new_public_id(IdPrefix.AUDIT_ENTRY),
        organization_id=principal.organization_pk,
        environment=principal.environment.value,
        actor_type=principal.actor_type.value,
        actor_id=principal.actor_id,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        changed_fields=sorted(changed_fields),
        request_id=request_id,
    )
    event = Event(
        public_id=new_public_id(IdPrefix.EVENT),
        organization_id=principal.organization_pk,
        environment=principal.environment.value,
        type=action,
        resource_type=resource_type,
        resource_id=resource_id,
        payload=payload,
        request_id=request_id,
        audit_entry_id=entry.public_id,
    )
    return entry, event


async def record_system_change(
    conn: AsyncConnection,
    tenant_row: Any,
    *,
    actor: str,
    resource_type: str,
    verb: str,
    resource_id: str,
    changed_fields: list[str],
    payload: dict[str, Any],
) -> None:
    """The audit entry and event of a change the service made by itself (the background
    runner: ``actor`` names which part), in ``conn``'s transaction. ``tenant_row`` has the
    tenant's ``organization_id``, ``organization_public_id`` and ``environment``."""
    system = Principal(
        organization_pk=tenant_row.organization_id,
        organization_id=tenant_row.organization_public_id,
        environment=Environment(tenant_row.environment),
        scopes=frozenset(),
        actor_type=ActorType.SYSTEM,
        actor_id=actor,
    )
    for record in change_records(
        system,
        None,
        resource_type=resource_type,
        verb=verb,
        resource_id=resource_id,
        changed_fields=changed_fields,
        payload=payload,
    ):
        table = type(record).__table__  # type: ignore[union-attr]
        values = {c.name: getattr(record, c.name) for c in table.c if c.name != "id"}
        await conn.execute(insert(type(record)).values(**values))


def _ranked_history() -> Any:
    """Each resource's entries numbered newest first, for ``activity_of_many``."""
    entry = AuditEntry.__table__.c  # type: ignore[attr-defined]
    rank = (
        func.row_number()
        .over(partition_by=entry.resource_id, order_by=(entry.occurred_at.desc(), entry.id.desc()))
        .label("rank")
    )
    ranked = (
        scoped(AuditEntry)
        .add_columns(rank)
        .where(entry.resource_id.in_(bindparam("resource_ids", expanding=True)))
        .subquery()
    )
    return select(ranked).where(ranked.c.rank <= bindparam("limit"))


_RANKED_HISTORY = _ranked_history()


async def activity_of_many(
    uow: UnitOfWork, resource_ids: Sequence[str], *, first: int
) -> list[list[Any]]:
    """The newest ``first`` entries of each resource, in one statement (a list's ``activity``
    fields, batched by a DataLoader; one resource's history is the batch of one)."""
    params = tenant(uow.principal, resource_ids=list(resource_ids), limit=first)
    by_resource: dict[str, list[Any]] = {rid: [] for rid in resource_ids}
    for row in await uow.rows.all(_RANKED_HISTORY, params):
        by_resource[row.resource_id].append(row)
    for rows in by_resource.values():
        rows.sort(key=lambda r: r.rank)
    return [by_resource[rid] for rid in resource_ids]
