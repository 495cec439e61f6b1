"""A resource's lifecycle transitions as mutations, derived from its ``Lifecycle``.

Each ``Transition`` becomes ``<transition><Type>(id: ID!): <Type>!`` (``archiveCustomer``),
declaring the resource's write scope and committing once, like every mutation
(``fields.mutation``); the REST action ``POST /<collection>/{id}/<transition>`` runs its
persisted operation ``<Transition><Type>`` (``transition_operations``). A transition that takes
a reason also takes ``input: <Transition><Type>Input!`` (``{reason: String!}``): the REST
action's body.
"""

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.kit.naming import pascal
from asteri.resolvers.crud import Resource, Snapshot
from asteri.resolvers.lifecycle import Transition, transition
from asteri.schema.context import RequestContext
from asteri.schema.fields import mutation

__all__ = ["lifecycle_mutations", "transition_operations"]


def transition_operations(resource: Resource) -> dict[str, str]:
    """REST action verb → persisted operation name: ``{"archive": "ArchiveCustomer"}``."""
    if resource.lifecycle is None:
        return {}
    return {t.name: resource.action_operation(t.name) for t in resource.lifecycle.transitions}


def lifecycle_mutations(
    dto: type,
    *,
    resource: Resource,
    scope: Scope,
    from_row: Callable[[Any], Any],
    snapshot: Snapshot,
) -> type:
    """A strawberry type holding one mutation per transition of the resource's lifecycle,
    returning ``dto`` (built from the row by ``from_row``); merged into ``Mutation`` like any
    other."""
    lifecycle = resource.lifecycle
    assert lifecycle is not None, f"{resource.name} declares no lifecycle"
    fields = {
        resource.action_field(t.name): _field(t, dto, resource, scope, from_row, snapshot)
        for t in lifecycle.transitions
    }
    namespace = type(f"{dto.__name__}Lifecycle", (), fields)
    return strawberry.type(namespace)


def _field(
    step: Transition,
    dto: type,
    resource: Resource,
    scope: Scope,
    from_row: Callable[[Any], Any],
    snapshot: Snapshot,
) -> Any:
    if step.reason:
        reason_input = _reason_input(step, resource)

        async def resolve(
            self: Any, info: Info[RequestContext, None], id: strawberry.ID, input: Any
        ) -> Any:
            row = await transition(
                info.context.uow, resource, step.name, str(id), snapshot, reason=input.reason
            )
            return from_row(row)

        resolve.__annotations__["input"] = reason_input
    else:

        async def resolve(  # type: ignore[misc]
            self: Any, info: Info[RequestContext, None], id: strawberry.ID
        ) -> Any:
            row = await transition(info.context.uow, resource, step.name, str(id), snapshot)
            return from_row(row)

    resolve.__annotations__["return"] = dto
    resolve.__name__ = resource.action_field(step.name)
    return mutation(scope, description=step.description)(resolve)


def _reason_input(step: Transition, resource: Resource) -> type:
    """``<Transition><Type>Input { reason: String! }``: why, kept on the object."""
    name = f"{pascal(step.name)}{resource.type_name}Input"
    namespace = type(name, (), {"__annotations__": {"reason": str}})
    return strawberry.input(
        namespace,
        name=name,
        description=f"Why: 1 to 500 characters, kept on the {resource.name.replace('_', ' ')}.",
    )
