"""``viewer``: who the credential is and which organization it is pinned to."""

from datetime import datetime
from enum import Enum

import strawberry
from sqlalchemy import bindparam
from sqlmodel import col, select
from strawberry.types import Info

from asteri.models import Organization as OrganizationRow
from asteri.schema.context import RequestContext
from asteri.schema.fields import RootFields, public

__all__ = ["ViewerQueries"]


@strawberry.enum(description="Live and test data never mix: a key sees only its own environment.")
class Environment(Enum):
    LIVE = "live"
    TEST = "test"


@strawberry.type
class Organization:
    id: strawberry.ID
    name: str


@strawberry.type(description="One window of the credential's rate limit, as this request left it.")
class RateLimitWindow:
    name: str = strawberry.field(description="`minute` or `day`.")
    limit: int = strawberry.field(description="Requests (units) the window allows.")
    remaining: int = strawberry.field(description="What is left, this request counted.")
    resets_in: int = strawberry.field(description="Whole seconds until the window resets.")


@strawberry.type(description="The authenticated caller.")
class Viewer:
    organization: Organization
    environment: Environment
    credential_type: str = strawberry.field(description="`api_key` or `member`.")
    credential_id: str
    scopes: list[str]
    expires_at: datetime | None = strawberry.field(
        description="When the credential stops working: its expiry, or a revocation already "
        "scheduled (a rotation's old key), whichever is first."
    )
    rate_limits: list[RateLimitWindow] = strawberry.field(
        description="Each window of the credential's rate limit, after this request; empty "
        "when the limiter could not be asked."
    )


_ORGANIZATION_NAME = select(col(OrganizationRow.name)).where(
    col(OrganizationRow.id) == bindparam("pk")
)


@strawberry.type
class ViewerQueries:
    @public(description="The caller, its organization, environment and scopes. Needs no scope.")
    async def viewer(self, info: Info[RequestContext, None]) -> Viewer:
        principal = info.context.principal
        row = await info.context.store.rows.one(
            _ORGANIZATION_NAME, {"pk": principal.organization_pk}
        )
        name = row.name if row is not None else None
        decision = info.context.rate_limit
        return Viewer(
            organization=Organization(id=strawberry.ID(principal.organization_id), name=name or ""),
            environment=Environment(principal.environment.value),
            credential_type=principal.actor_type.value,
            credential_id=principal.actor_id,
            scopes=sorted(s.value for s in principal.scopes),
            expires_at=principal.expires_at,
            rate_limits=[
                RateLimitWindow(
                    name=w.name, limit=w.limit, remaining=w.remaining, resets_in=w.reset
                )
                for w in (decision.windows if decision is not None else ())
            ],
        )


ROOT_FIELDS = RootFields(queries=(ViewerQueries,))
