"""``@requiresScope`` and ``@requiresRole``: declared on a field, printed in the SDL, enforced
here for every resolver.

Strawberry's ``PermissionExtension`` runs ``has_permission`` before the resolver; the permission
carries a schema directive, so what a field needs is visible in the printed SDL (and, via the
persisted operations, in OpenAPI). Resolvers never check scopes themselves.

Most fields need a scope, which keys and sessions alike may hold. The security center's fields
need a person instead: the session of an owner or admin (``@requiresRole``), never a key.
"""

from typing import Any, Protocol

import strawberry
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location
from strawberry.types import Info

from asteri.authz.principal import Principal
from asteri.authz.roles import KEY_MANAGERS, ROLE_SCOPES
from asteri.authz.scopes import Scope

__all__ = [
    "RequiresAuthentication",
    "RequiresKeyManager",
    "RequiresRoleDirective",
    "RequiresScope",
    "RequiresScopeDirective",
    "authenticated",
    "requires_key_manager",
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


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="requiresRole",
    description="The team roles whose session may use this field. No API key may, whatever "
    "its scopes.",
)
class RequiresRoleDirective:
    roles: list[str]


class RequiresKeyManager(BasePermission):
    """401 when unauthenticated; 403 ``key_manager_required`` for any API key and for a session
    whose role may not manage keys (``Principal.require_key_manager``)."""

    # In the order roles are listed (owner first), so the SDL reads naturally and stays stable.
    roles = tuple(role for role in ROLE_SCOPES if role in KEY_MANAGERS)

    def __init__(self) -> None:
        self._schema_directive = RequiresRoleDirective(roles=list(self.roles))  # type: ignore[misc]

    def has_permission(self, source: Any, info: Info[HasPrincipal, Any], **kwargs: Any) -> bool:
        info.context.principal.require_key_manager()
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


def requires_key_manager() -> PermissionExtension:
    return PermissionExtension([RequiresKeyManager()], use_directives=True)
