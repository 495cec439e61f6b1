"""Team members in the public schema: the DTO, its inputs, and its root fields.

There is no `deleteTeamMember`: the team scopes are `read:team` and `write:team` only, and a
member who leaves is deactivated so their history stays attached to them.
"""

from datetime import datetime

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.models import TeamMember as TeamMemberRow
from asteri.resolvers import team_member as members
from asteri.schema.context import RequestContext
from asteri.schema.fields import RootFields, mutation, query, version_field
from asteri.schema.inputs import described_enum, filter_input, sent_values
from asteri.schema.lifecycle import lifecycle_mutations
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.snapshot import snapshot_of

__all__ = [
    "TeamMember",
    "TeamMemberLifecycle",
    "TeamMemberMutations",
    "TeamMemberQueries",
    "TeamRole",
]

Ctx = Info[RequestContext, None]


TeamRole = members.TeamRole  # the stored roles, as the GraphQL enum
described_enum(
    TeamRole,
    description="What a team member does in the organization.",
    values={
        "OWNER": "Runs the organization.",
        "ADMIN": "Manages settings, people and billing.",
        "DISPATCHER": "Schedules and assigns work.",
        "TECHNICIAN": "Does the work in the field.",
    },
)


@strawberry.type(description="A person who works for the organization.")
class TeamMember:
    id: strawberry.ID
    name: str
    email: str = strawberry.field(description="Lower-cased; unique within the organization.")
    role: TeamRole
    active: bool = strawberry.field(
        description="Inactive members keep their history but should not be given new work."
    )
    created_at: datetime
    updated_at: datetime
    version: int = version_field()

    @classmethod
    def from_row(cls, row: TeamMemberRow) -> "TeamMember":
        return TEAM_MEMBER_ROWS.build(row)


TEAM_MEMBER_ROWS = RowMap(TeamMember, id="public_id", role=lambda row: TeamRole(row.role))
snapshot = snapshot_of(TeamMember.from_row)


TeamMemberOrder = members.TeamMemberOrder  # its members are the resolvers' orderings
strawberry.enum(TeamMemberOrder, description="Orderings for team member lists.")


TeamMemberFilter = members.TeamMemberFilter  # the resolvers' filter, also the GraphQL input
filter_input(TeamMemberFilter, description="Narrow a team member list; all conditions must hold.")


@strawberry.input(description="A new team member. The email must be unused in the organization.")
class CreateTeamMemberInput:
    name: str
    email: str
    role: TeamRole
    active: bool = True


@strawberry.input(
    description="Changes to a team member: absent fields are untouched; none may be null."
)
class UpdateTeamMemberInput:
    name: str | None = UNSET
    email: str | None = UNSET
    role: TeamRole | None = UNSET
    active: bool | None = strawberry.field(
        default=UNSET, description="false deactivates, true reactivates (with those events)."
    )


@strawberry.type
class TeamMemberQueries:
    @query(Scope.READ_TEAM, description="A team member by id; null with NOT_FOUND if absent.")
    async def team_member(self, info: Ctx, id: strawberry.ID) -> TeamMember | None:
        return TeamMember.from_row(await members.read(info.context.uow, str(id)))

    @query(
        Scope.READ_TEAM,
        description="Team members, active and inactive, newest first unless `orderBy` says.",
    )
    async def team_members(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: TeamMemberFilter | None = None,
        order_by: TeamMemberOrder = TeamMemberOrder.CREATED_AT_DESC,
    ) -> Connection[TeamMember]:
        page = await members.list_team_members(
            info.context.uow,
            filter=filter or TeamMemberFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, TeamMember.from_row)


@strawberry.type
class TeamMemberMutations:
    @mutation(
        Scope.WRITE_TEAM,
        description="Add a team member. A duplicate email is a CONFLICT (409).",
    )
    async def create_team_member(self, info: Ctx, input: CreateTeamMemberInput) -> TeamMember:
        row = await members.create(info.context.uow, sent_values(input), snapshot)
        return TeamMember.from_row(row)

    @mutation(
        Scope.WRITE_TEAM,
        description=(
            "Change some fields of a team member. A change of `active` emits "
            "`team_member.deactivated` or `team_member.reactivated` instead of `.updated`."
        ),
    )
    async def update_team_member(
        self, info: Ctx, id: strawberry.ID, input: UpdateTeamMemberInput
    ) -> TeamMember:
        row = await members.update(info.context.uow, str(id), sent_values(input), snapshot)
        return TeamMember.from_row(row)


TeamMemberLifecycle = lifecycle_mutations(
    TeamMember,
    resource=members.TEAM_MEMBERS,
    scope=Scope.WRITE_TEAM,
    from_row=TeamMember.from_row,
    snapshot=snapshot,
)


ROOT_FIELDS = RootFields(
    queries=(TeamMemberQueries,),
    mutations=(
        TeamMemberMutations,
        TeamMemberLifecycle,
    ),
)
