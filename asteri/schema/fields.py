"""Field helpers: each field with a resolver states its scope (or, in the security center, the
roles it needs) once — root fields and related-object fields alike; mutations also commit once."""

from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.annotation import StrawberryAnnotation
from strawberry.extensions.field_extension import AsyncExtensionResolver, FieldExtension
from strawberry.types import Info
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.field import StrawberryField

from asteri.authz.permissions import authenticated, requires_key_manager, requires_scope
from asteri.authz.scopes import Scope
from asteri.resolvers import crud
from asteri.resolvers.registry import resource_of_id

__all__ = [
    "Commit",
    "Precondition",
    "RootFields",
    "key_manager_mutation",
    "key_manager_query",
    "mutation",
    "public",
    "query",
    "related",
    "version_field",
]


class Commit(FieldExtension):
    """The transaction boundary of a mutation: commit after success, roll back after failure.

    The write, its audit entry and its event were flushed in one transaction by the resolver;
    this is the only place that commits it. With ``context.defer_commit`` (an Idempotency-Key
    request, REST or GraphQL) it only flushes: the idempotency layer commits, with the stored
    response.
    """

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        session = info.context.session
        deferred = info.context.defer_commit
        try:
            result = await next_(source, info, **kwargs)
            if deferred:
                await session.flush()
        except BaseException:
            await session.rollback()
            raise
        if not deferred:
            await session.commit()
        return result


EXPECTED_VERSION = "expected_version"


class Precondition(FieldExtension):
    """Every mutation of an existing object (a field with an ``id`` argument) takes
    ``expectedVersion``, and holds the object before its resolver reads it (``crud.hold``):
    412 ``PRECONDITION_FAILED`` if the object is at another version. Added by the mutation
    helpers below, so no mutation of an object can lack it; the REST facade passes ``If-Match``
    as this argument."""

    def apply(self, field: StrawberryField) -> None:
        if any(a.python_name == "id" for a in field.arguments):
            field.arguments = [
                *field.arguments,
                StrawberryArgument(
                    python_name=EXPECTED_VERSION,
                    graphql_name=None,
                    type_annotation=StrawberryAnnotation(int | None),
                    description="The object's `version` you last read: if it has changed "
                    "since, nothing is written and the answer is PRECONDITION_FAILED.",
                    default=None,
                ),
            ]

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        expected = kwargs.pop(EXPECTED_VERSION, None)
        target = kwargs.get("id")
        resource = resource_of_id(str(target)) if target is not None else None
        if resource is not None:
            await crud.hold(info.context.uow, resource, str(target), expected)
        return await next_(source, info, **kwargs)


def version_field() -> Any:
    """``version``, on every resource's type: what ``expectedVersion`` and ``If-Match`` name."""
    return strawberry.field(
        description="1 when created, one more with each change: the REST `ETag` is this "
        "number, quoted. Pass it as `expectedVersion` (GraphQL) or `If-Match` (REST) to change "
        "the object only if nothing else has since."
    )


def query(scope: Scope, *, description: str) -> Any:
    return strawberry.field(description=description, extensions=[requires_scope(scope)])


def related(scope: Scope, *, description: str) -> Any:
    """A field of a non-root type that resolves related objects (``Customer.activity``): it
    declares its read scope as a root field does, since a caller may reach it from any root."""
    return strawberry.field(description=description, extensions=[requires_scope(scope)])


def mutation(scope: Scope, *, description: str) -> Any:
    """Extensions run last-listed outermost: commit around the scope check, around the
    precondition, around the resolver."""
    return strawberry.mutation(
        description=description, extensions=[Precondition(), requires_scope(scope), Commit()]
    )


def key_manager_query(*, description: str) -> Any:
    """The security center: an owner's or admin's session only, never an API key."""
    return strawberry.field(description=description, extensions=[requires_key_manager()])


def key_manager_mutation(*, description: str) -> Any:
    return strawberry.mutation(
        description=description,
        extensions=[Precondition(), requires_key_manager(), Commit()],
    )


def public(*, description: str) -> Any:
    """Public on purpose: any authenticated caller, no scope. The schema test knows the list."""
    return strawberry.field(description=description, extensions=[authenticated()])


@dataclass(frozen=True)
class RootFields:
    """A module's contribution to ``Query`` and ``Mutation``, declared as ``ROOT_FIELDS`` in
    the module itself: ``build.py`` finds every such module, so adding a resource edits no
    shared list."""

    queries: tuple[type, ...] = ()
    mutations: tuple[type, ...] = ()
