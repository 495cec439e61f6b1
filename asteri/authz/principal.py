"""The authenticated caller, pinned to one (organization, environment)."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from asteri.authz.roles import KEY_MANAGERS
from asteri.authz.scopes import Scope
from asteri.kit.errors import Forbidden
from asteri.models.base import Environment

__all__ = ["ActorType", "Lapse", "Principal", "ends_at", "lapse", "organization_mismatch"]


class ActorType(StrEnum):
    API_KEY = "api_key"
    MEMBER = "member"
    OPERATOR = "operator"  # the `asteri` CLI, run by whoever operates the service
    SYSTEM = "system"  # the service itself: the webhook worker disabling a failing endpoint


class Lapse(StrEnum):
    """Why a credential (key or session) no longer works; its 401 reasons are made from these
    (``revoked_key``, ``expired_key``), so every such reason is enumerable."""

    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Principal:
    organization_pk: int
    organization_id: str
    environment: Environment
    scopes: frozenset[Scope]
    actor_type: ActorType
    actor_id: str
    # A key restricted to persisted operations may not send arbitrary GraphQL documents.
    persisted_only: bool = False
    # The credential's rate limits (requests per minute and per day).
    per_minute: int = 60
    per_day: int = 10_000
    # Set only on a principal served from the key cache (authz/authenticate.py): the key's row
    # and the version it had; every read then re-checks that the key is still that, still
    # valid (authz/tenancy.py). None: authenticated against the database for this request.
    cached_key_pk: int | None = None
    cached_key_version: int | None = None
    # A person's session (bearer): their team role in this organization and the session id.
    role: str | None = None
    session_id: str | None = None
    # When the credential stops working: its expiry, or a revocation already scheduled (the
    # old key of a rotation), whichever comes first. None: the operator (no credential).
    expires_at: datetime | None = None

    @property
    def from_cache(self) -> bool:
        return self.cached_key_pk is not None

    @property
    def actor(self) -> str:
        """``<actor type>:<id>``, as a key's ``created_by`` names its creator."""
        return f"{self.actor_type.value}:{self.actor_id}"

    def require(self, scope: Scope) -> None:
        """403 naming the scope; the message the brief promises for a missing scope."""
        if scope not in self.scopes:
            raise Forbidden(
                f"This operation requires the `{scope.value}` scope, which the credential lacks.",
                reason="missing_scope",
                required_scope=scope.value,
            )

    def require_key_manager(self) -> None:
        """403 unless this is the session of an organization owner or admin. Never a key,
        whatever its scopes: a key that could mint keys could mint itself wider ones."""
        if self.actor_type is not ActorType.MEMBER or self.role not in KEY_MANAGERS:
            raise Forbidden(
                "Only an organization owner's or admin's session may manage API keys; "
                "an API key can never mint, widen or manage keys, whatever its scopes.",
                reason="key_manager_required",
            )


def lapse(revoked_at: datetime | None, expires_at: datetime, now: datetime) -> Lapse | None:
    """Why a credential (key or session) no longer works at ``now``, or None while it does.
    A revocation may be scheduled (a rotation's overlap)."""
    if revoked_at is not None and revoked_at <= now:
        return Lapse.REVOKED
    if expires_at <= now:
        return Lapse.EXPIRED
    return None


def ends_at(revoked_at: datetime | None, expires_at: datetime) -> datetime:
    """When a live credential stops working (see ``Principal.expires_at``)."""
    return expires_at if revoked_at is None else min(revoked_at, expires_at)


def organization_mismatch() -> Forbidden:
    """The same 403 whether or not the organization exists: it never confirms one."""
    return Forbidden(
        "The credential is not valid for the organization in `x-organization-id`. "
        "Switch to the correct organization or use a key issued for it.",
        reason="organization_mismatch",
    )
