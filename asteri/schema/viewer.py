"""``viewer``: who the credential is and which organization it is pinned to."""

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


@strawberry.type(description="The authenticated caller.")
class Viewer:
    organization: Organization
    environment: Environment
    credential_type: str = strawberry.field(description="`api_key` or `member`.")
    credential_id: str
    scopes: list[str]


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
        return Viewer(
            organization=Organization(id=strawberry.ID(principal.organization_id), name=name or ""),
            environment=Environment(principal.environment.value),
            credential_type=principal.actor_type.value,
            credential_id=principal.actor_id,
            scopes=sorted(s.value for s in principal.scopes),
        )


ROOT_FIELDS = RootFields(queries=(ViewerQueries,))
