"""``@requiresScope``: declared on a field, printed in the SDL, enforced here for every resolver.

Strawberry's ``PermissionExtension`` runs ``has_permission`` before the resolver; the permission
carries a schema directive, so the scope a field needs is visible in the printed SDL (and, via
the persisted operations, in OpenAPI). Resolvers never check scopes themselves.
"""

from typing import Any, Protocol

import strawberry
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location
from strawberry.types import Info

from asteri.authz.principal import Principal
from asteri.authz.scopes import Scope

__all__ = [
    "RequiresAuthentication",
    "RequiresScope",
    "RequiresScopeDirective",
    "authenticated",
    "requires_scope",
]


class HasPrincipal(Protocol):
    @property
    def principal(self) -> Principal: ...


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="requiresScope",
    description="The API key scope a caller needs to use this field.",
)
class RequiresScopeDirective:
    scope: str


class RequiresScope(BasePermission):
    """Raises 401 when the request is unauthenticated and 403 (naming the scope) when unscoped."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._schema_directive = RequiresScopeDirective(scope=scope.value)  # type: ignore[misc]

    def has_permission(self, source: Any, info: Info[HasPrincipal, Any], **kwargs: Any) -> bool:
        info.context.principal.require(self.scope)
        return True


class RequiresAuthentication(BasePermission):
    """For fields that are public on purpose: any authenticated caller, no scope."""

    def has_permission(self, source: Any, info: Info[HasPrincipal, Any], **kwargs: Any) -> bool:
        _ = info.context.principal
        return True


def requires_scope(scope: Scope) -> PermissionExtension:
    return PermissionExtension([RequiresScope(scope)], use_directives=True)


def authenticated() -> PermissionExtension:
    return PermissionExtension([RequiresAuthentication()], use_directives=False)
