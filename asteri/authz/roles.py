"""What a person may do in an organization, by their team role there (bearer sessions).

Keys carry the scopes they were issued with; people get their role's. Owners and admins hold
every scope (and only they may manage keys, in the security center); dispatchers read
everything and schedule and write the work; technicians see and update what they do in the
field.
"""

from asteri.authz.scopes import Scope

__all__ = ["KEY_MANAGERS", "ROLE_SCOPES", "scopes_for"]

_ALL = frozenset(Scope)
_READS = frozenset(s for s in Scope if s.value.startswith("read:"))

ROLE_SCOPES: dict[str, frozenset[Scope]] = {
    "owner": _ALL,
    "admin": _ALL,
    "dispatcher": _READS
    | {
        Scope.WRITE_CUSTOMERS,
        Scope.WRITE_APPOINTMENTS,
        Scope.WRITE_ESTIMATES,
        Scope.WRITE_FILES,
    },
    "technician": frozenset(
        {
            Scope.READ_CUSTOMERS,
            Scope.READ_APPOINTMENTS,
            Scope.WRITE_APPOINTMENTS,
            Scope.READ_SERVICES,
            Scope.READ_TEAM,
            Scope.READ_FILES,
            Scope.WRITE_FILES,
        }
    ),
}

# Roles that may manage the organization's API keys (the security center).
KEY_MANAGERS = frozenset({"owner", "admin"})


def scopes_for(role: str) -> frozenset[Scope]:
    """An unknown role (a newer one, say) gets no scope rather than a guess."""
    return ROLE_SCOPES.get(role, frozenset())
