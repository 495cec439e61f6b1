"""Field helpers: each field with a resolver states its scope (or, in the security center, the
roles it needs) once — root fields and related-object fields alike; mutations also commit once."""

from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.extensions.field_extension import AsyncExtensionResolver, FieldExtension
from strawberry.types import Info

from asteri.authz.permissions import authenticated, requires_key_manager, requires_scope
from asteri.authz.scopes import Scope

__all__ = [
    "Commit",
    "RootFields",
    "key_manager_mutation",
    "key_manager_query",
    "mutation",
    "public",
    "query",
    "related",
]


class Commit(FieldExtension):
    """The transaction boundary of a mutation: commit after success, roll back after failure.

    The write, its audit entry and its event were flushed in one transaction by the resolver;
    this is the only place that commits it. With ``context.defer_commit`` (the REST facade's
    Idempotency-Key path) it only flushes: the facade commits, with the stored response.
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


def query(scope: Scope, *, description: str) -> Any:
    return strawberry.field(description=description, extensions=[requires_scope(scope)])


def related(scope: Scope, *, description: str) -> Any:
    """A field of a non-root type that resolves related objects (``Customer.activity``): it
    declares its read scope as a root field does, since a caller may reach it from any root."""
    return strawberry.field(description=description, extensions=[requires_scope(scope)])


def mutation(scope: Scope, *, description: str) -> Any:
    return strawberry.mutation(
        description=description, extensions=[requires_scope(scope), Commit()]
    )


def key_manager_query(*, description: str) -> Any:
    """The security center: an owner's or admin's session only, never an API key."""
    return strawberry.field(description=description, extensions=[requires_key_manager()])


def key_manager_mutation(*, description: str) -> Any:
    return strawberry.mutation(
        description=description, extensions=[requires_key_manager(), Commit()]
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
