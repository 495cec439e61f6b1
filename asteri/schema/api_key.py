"""The security center in the public schema: an organization's API keys, managed by its owners
and admins through their sessions (``@requiresRole``), never by a key.

A key's secret appears in exactly two answers, ``createApiKey`` and ``rotateApiKey``; no type
can carry it otherwise, nor its hash, so no read, audit entry or event ever holds it.
"""

from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from asteri.authz.key_policy import MAX_KEY_LIFETIME, MAX_LIMIT, MAX_ROTATION_OVERLAP
from asteri.authz.principal import lapse
from asteri.kit.db import utcnow
from asteri.models.api_key import DEFAULT_PER_DAY, DEFAULT_PER_MINUTE
from asteri.resolvers import api_key as keys
from asteri.schema.context import RequestContext
from asteri.schema.fields import RootFields, key_manager_mutation, key_manager_query, version_field
from asteri.schema.inputs import sent_values
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.snapshot import snapshot_of
from asteri.schema.viewer import Environment

__all__ = ["ApiKey", "ApiKeyMutations", "ApiKeyQueries", "ApiKeyStatus"]

Ctx = Info[RequestContext, None]
_DEFAULT_OVERLAP = timedelta(hours=24)


@strawberry.enum(description="Whether a key works now; decided when it is read.")
class ApiKeyStatus(Enum):
    ACTIVE = strawberry.enum_value(
        "active", description="Works (also during a rotation's overlap, until `revokedAt`)."
    )
    REVOKED = strawberry.enum_value("revoked", description="Revoked: refused from `revokedAt`.")
    EXPIRED = strawberry.enum_value("expired", description="Past `expiresAt`.")


def _status(row: Any) -> ApiKeyStatus:
    return ApiKeyStatus(lapse(row.revoked_at, row.expires_at, utcnow()) or "active")


@strawberry.type(description="An API key of the organization. Never its secret or its hash.")
class ApiKey:
    id: strawberry.ID
    name: str
    display_prefix: str = strawberry.field(
        description="The secret's first characters (`ast_live_Ab12Cd`), to recognise it by."
    )
    environment: Environment
    scopes: list[str]
    expires_at: datetime
    revoked_at: datetime | None = strawberry.field(
        description="When it stops (or stopped) working; in the future during a rotation's overlap."
    )
    last_used_at: datetime | None = strawberry.field(description="Accurate to a minute.")
    rotated_from: strawberry.ID | None = strawberry.field(
        description="The key this one replaced in a rotation."
    )
    persisted_only: bool = strawberry.field(
        description="May run persisted operations only (REST, or GraphQL by hash)."
    )
    per_minute: int = strawberry.field(description="Requests allowed per clock minute.")
    per_day: int = strawberry.field(description="Requests allowed per UTC day.")
    created_at: datetime
    version: int = version_field()
    created_by: str | None = strawberry.field(
        description="`member:tm_…` (an owner's or admin's session) or `operator:cli`; null for "
        "keys created before this was recorded."
    )
    status: ApiKeyStatus

    @classmethod
    def from_row(cls, row: Any) -> "ApiKey":
        return API_KEY_ROWS.build(row)


API_KEY_ROWS = RowMap(
    ApiKey,
    id="public_id",
    environment=lambda row: Environment(row.environment),
    status=_status,
)
snapshot = snapshot_of(ApiKey.from_row)


@strawberry.type(description="A new key, and its secret: shown in this answer only.")
class NewApiKey:
    api_key: ApiKey
    secret: str = strawberry.field(
        description="The key itself, for `x-api-key`. Shown once, never again: store it now."
    )


@strawberry.type(description="The key that replaces a rotated one, and its secret (shown once).")
class RotatedApiKey:
    api_key: ApiKey = strawberry.field(description="The new key; `rotatedFrom` names the old.")
    secret: str = strawberry.field(
        description="The new key itself, for `x-api-key`. Shown once, never again."
    )
    old_key_valid_until: datetime = strawberry.field(
        description="The old key keeps working until then."
    )


@strawberry.input(description="A new API key for the organization.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="What the key is for, e.g. `Billing sync`.")
    scopes: list[str] = strawberry.field(
        description="At least one of the published scopes, e.g. `read:customers`."
    )
    expires_in: int = strawberry.field(
        description=f"Seconds until it expires: 1 to {int(MAX_KEY_LIFETIME.total_seconds())} "
        f"({MAX_KEY_LIFETIME.days} days)."
    )
    environment: Environment | None = strawberry.field(
        default=None, description="The data it reaches; null: the session's environment."
    )
    per_minute: int = strawberry.field(
        default=DEFAULT_PER_MINUTE, description=f"Requests per minute, 1 to {MAX_LIMIT}."
    )
    per_day: int = strawberry.field(
        default=DEFAULT_PER_DAY, description=f"Requests per day, 1 to {MAX_LIMIT}."
    )
    persisted_only: bool = strawberry.field(
        default=False, description="Allow persisted operations only (REST, or GraphQL by hash)."
    )


@strawberry.input(description="Changes to a key: absent fields are untouched; none may be null.")
class UpdateApiKeyInput:
    name: str | None = UNSET
    scopes: list[str] | None = strawberry.field(
        default=UNSET, description="Replaces the key's scopes; applies from its next request."
    )
    per_minute: int | None = UNSET
    per_day: int | None = UNSET


@strawberry.input(description="How to rotate a key.")
class RotateApiKeyInput:
    overlap_seconds: int = strawberry.field(
        default=int(_DEFAULT_OVERLAP.total_seconds()),
        description="How long the old key keeps working: 0 (stops at once) to "
        f"{int(MAX_ROTATION_OVERLAP.total_seconds())} ({MAX_ROTATION_OVERLAP.days} days).",
    )


@strawberry.type
class ApiKeyQueries:
    @key_manager_query(description="An API key by id; null with NOT_FOUND if absent.")
    async def api_key(self, info: Ctx, id: strawberry.ID) -> ApiKey | None:
        return ApiKey.from_row(await keys.read(info.context.uow, str(id)))

    @key_manager_query(
        description="The organization's API keys in both environments, revoked and expired "
        "ones too, newest first."
    )
    async def api_keys(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Connection[ApiKey]:
        page = await keys.list_api_keys(info.context.uow, first=page_size(first), after=after)
        return Connection.of(page, ApiKey.from_row)


def _pepper(info: Ctx) -> str:
    return info.context.settings.key_pepper.get_secret_value()


@strawberry.type
class ApiKeyMutations:
    @key_manager_mutation(
        description="Create an API key. Its secret is in this answer, and never shown again."
    )
    async def create_api_key(self, info: Ctx, input: CreateApiKeyInput) -> NewApiKey:
        issued = await keys.create(
            info.context.uow, sent_values(input), pepper=_pepper(info), snapshot=snapshot
        )
        return NewApiKey(api_key=ApiKey.from_row(issued.record), secret=issued.secret)

    @key_manager_mutation(
        description="Replace a key's secret, keeping its policy; the old secret works until "
        "`oldKeyValidUntil`. A revoked, expired or already rotated key cannot be rotated."
    )
    async def rotate_api_key(
        self, info: Ctx, id: strawberry.ID, input: RotateApiKeyInput | None = None
    ) -> RotatedApiKey:
        overlap = (input or RotateApiKeyInput()).overlap_seconds
        rotated = await keys.rotate(
            info.context.uow,
            str(id),
            overlap=timedelta(seconds=overlap),
            pepper=_pepper(info),
            snapshot=snapshot,
        )
        return RotatedApiKey(
            api_key=ApiKey.from_row(rotated.record),
            secret=rotated.secret,
            old_key_valid_until=rotated.old_key_valid_until,
        )

    @key_manager_mutation(description="Revoke a key now (also during a rotation's overlap).")
    async def revoke_api_key(self, info: Ctx, id: strawberry.ID) -> ApiKey:
        return ApiKey.from_row(await keys.revoke(info.context.uow, str(id), snapshot))

    @key_manager_mutation(
        description="Change a key's name, scopes or limits. The key's authentication is "
        "decided afresh on its next request, so a narrower scope refuses that request."
    )
    async def update_api_key(
        self, info: Ctx, id: strawberry.ID, input: UpdateApiKeyInput
    ) -> ApiKey:
        row = await keys.update(info.context.uow, str(id), sent_values(input), snapshot)
        return ApiKey.from_row(row)


ROOT_FIELDS = RootFields(queries=(ApiKeyQueries,), mutations=(ApiKeyMutations,))
