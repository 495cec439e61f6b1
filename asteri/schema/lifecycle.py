"""A resource's lifecycle transitions as mutations, derived from its ``Lifecycle``.

Each ``Transition`` becomes ``<transition><Type>(id: ID!): <Type>!`` (``archiveCustomer``),
declaring the resource's write scope and committing once, like every mutation
(``fields.mutation``); the REST action ``POST /<collection>/{id}/<transition>`` runs its
persisted operation ``<Transition><Type>`` (``transition_operations``). A transition that takes
an input (``Transition.input``) also takes ``input: <Transition><Type>Input!``, the REST
action's body: derived for a reason (``{reason: String!}``), else the strawberry input the
resource's schema module declares under that name (``inputs``). An input none of whose fields
is required (``completeAppointment``'s ``{draftInvoice}``) may be left out, or null: it means
its defaults, so a caller from before the transition took it keeps working.
"""

from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from pydantic import BaseModel
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.kit.naming import pascal
from asteri.resolvers.crud import Resource, Snapshot
from asteri.resolvers.lifecycle import Reason, Transition, transition
from asteri.schema.context import RequestContext
from asteri.schema.fields import mutation
from asteri.schema.inputs import sent_values
from asteri.schema.snapshot import snapshot_for

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
    inputs: Sequence[type] = (),
) -> type:
    """A strawberry type holding one mutation per transition of the resource's lifecycle,
    returning ``dto`` (built from the row by ``from_row``); merged into ``Mutation`` like any
    other. ``inputs``: the strawberry inputs of the transitions that take one, other than a
    reason, each named ``<Transition><Type>Input``."""
    lifecycle = resource.lifecycle
    assert lifecycle is not None, f"{resource.name} declares no lifecycle"
    declared = {t.__strawberry_definition__.name: t for t in inputs}  # type: ignore[attr-defined]
    fields = {
        resource.action_field(t.name): _field(t, dto, resource, scope, from_row, snapshot, declared)
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
    declared: dict[str, type],
) -> Any:
    if step.input is not None:
        input_type = _input_of(step, resource, declared)

        async def resolve(
            self: Any, info: Info[RequestContext, None], id: strawberry.ID, input: Any
        ) -> Any:
            row = await transition(
                info.context.uow,
                resource,
                step.name,
                str(id),
                snapshot,
                given={} if input is None else sent_values(input),
                snapshots=snapshot_for,
            )
            return from_row(row)

        if _optional(step.input):
            resolve.__annotations__["input"] = input_type | None
            resolve.__defaults__ = (None,)
        else:
            resolve.__annotations__["input"] = input_type
    else:

        async def resolve(  # type: ignore[misc]
            self: Any, info: Info[RequestContext, None], id: strawberry.ID
        ) -> Any:
            row = await transition(
                info.context.uow, resource, step.name, str(id), snapshot, snapshots=snapshot_for
            )
            return from_row(row)

    resolve.__annotations__["return"] = dto
    resolve.__name__ = resource.action_field(step.name)
    return mutation(scope, description=step.description)(resolve)


def _optional(model: type[BaseModel]) -> bool:
    """No field of the input is required: leaving it out means its defaults."""
    return not any(f.is_required() for f in model.model_fields.values())


def _input_of(step: Transition, resource: Resource, declared: dict[str, type]) -> type:
    name = f"{pascal(step.name)}{resource.type_name}Input"
    if name in declared:
        return declared[name]
    if step.input is Reason:
        return _reason_input(name, resource)
    raise TypeError(f"{resource.name}: declare the GraphQL input {name} for `{step.name}`")


def _reason_input(name: str, resource: Resource) -> type:
    """``<Transition><Type>Input { reason: String! }``: why, kept on the object."""
    namespace = type(name, (), {"__annotations__": {"reason": str}})
    return strawberry.input(
        namespace,
        name=name,
        description=f"Why: 1 to 500 characters, kept on the {resource.name.replace('_', ' ')}.",
    )
