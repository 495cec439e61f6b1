"""Team members: the people of an organization, their role, and whether they may still work.

There is no delete scope for team, so members are never deleted: they are deactivated, which
keeps their history (and, later, their past appointments) attached to a real row.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.kit.pagination import Page
from asteri.models import TeamMember
from asteri.resolvers import crud
from asteri.resolvers.crud import Resource, Snapshot, Sort
from asteri.resolvers.lifecycle import Lifecycle, Transition
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import EmailAddress, non_blank, validate

__all__ = [
    "LIFECYCLE",
    "ROLES",
    "TEAM_MEMBERS",
    "TeamMemberFields",
    "TeamMemberFilter",
    "TeamMemberOrder",
    "TeamRole",
    "create",
    "get",
    "list_team_members",
    "update",
]

LIFECYCLE = Lifecycle(
    states=("active", "inactive"),
    transitions=(
        Transition(
            "deactivate",
            sources=("active",),
            target="inactive",
            event="deactivated",
            description="Deactivate a team member: kept with their history, not given new work.",
        ),
        Transition(
            "reactivate",
            sources=("inactive",),
            target="active",
            event="reactivated",
            description="Reactivate a deactivated team member.",
        ),
    ),
    state=lambda row: "active" if row.active else "inactive",
    columns=lambda entering: {"active": entering.state == "active"},
)

TEAM_MEMBERS = Resource(
    model=TeamMember,
    name="team_member",
    prefix="tm",
    unique_fields=("email",),
    lifecycle=LIFECYCLE,
    sample=lambda s: {
        "name": f"Sam Okafor{s.distinct}",
        "email": f"sam{s.distinct}@example.com",
        "role": "TECHNICIAN",
    },
    change={"name": "Sam Okafor-Reyes", "role": "DISPATCHER"},
    invalid={"name": ""},
)


class TeamMemberOrder(Enum):
    """Orderings for team members lists (values: the ``Sort`` each one applies)."""

    CREATED_AT_DESC = Sort("created_at_desc", TeamMember.created_at, descending=True)  # type: ignore[arg-type]
    CREATED_AT_ASC = Sort("created_at_asc", TeamMember.created_at, descending=False)  # type: ignore[arg-type]
    UPDATED_AT_DESC = Sort("updated_at_desc", TeamMember.updated_at, descending=True)  # type: ignore[arg-type]
    NAME_ASC = Sort("name_asc", TeamMember.name, descending=False)  # type: ignore[arg-type]


class TeamRole(Enum):
    """What a team member does (values: the stored roles). Also the GraphQL ``TeamRole``."""

    OWNER = "owner"
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    TECHNICIAN = "technician"


ROLES: tuple[str, ...] = tuple(role.value for role in TeamRole)

Name = Annotated[str, non_blank(200)]
# Stored lower-cased so the unique (organization, environment, email) constraint cannot be
# side-stepped by case, and so search and duplicates behave the same on both backends.
Email = Annotated[
    EmailAddress,
    BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v),
    AfterValidator(str.lower),
]


class TeamMemberFields(BaseModel):
    """The editable state of a member; create and update both validate the whole of it."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    email: Email
    role: TeamRole
    active: bool = True


def _editable(row: TeamMember) -> dict[str, Any]:
    return {name: getattr(row, name) for name in TeamMemberFields.model_fields}


@dataclass(frozen=True)
class TeamMemberFilter:
    """Also the GraphQL ``TeamMemberFilter`` (``schema.inputs.filter_input``)."""

    role: TeamRole | None = None
    active: bool | None = field(
        default=None,
        metadata={"description": "null (default): everyone; true: active only; false: inactive."},
    )
    search: str | None = field(
        default=None,
        metadata={"description": "Words matched, case-insensitively, in names and emails."},
    )
    updated_since: datetime | None = field(
        default=None,
        metadata={"description": "Changed at or after this time; needs a UTC offset."},
    )


def _where(f: TeamMemberFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.role is not None:
        clauses.append(col(TeamMember.role) == f.role.value)
    if f.active is not None:
        clauses.append(col(TeamMember.active) == f.active)
    clauses += crud.matches_words(f.search, col(TeamMember.name), col(TeamMember.email))
    clauses += crud.updated_since(col(TeamMember.updated_at), f.updated_since)
    return clauses


async def list_team_members(
    uow: UnitOfWork,
    *,
    filter: TeamMemberFilter,
    sort: TeamMemberOrder,
    first: int,
    after: str | None,
) -> Page[TeamMember]:
    return await crud.list_page(
        uow, TEAM_MEMBERS, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    """For a query: the row's columns, no ORM object."""
    return await crud.read(uow, TEAM_MEMBERS, public_id)


async def get(uow: UnitOfWork, public_id: str) -> TeamMember:
    row: TeamMember = await crud.get(uow, TEAM_MEMBERS, public_id)
    return row


async def create(uow: UnitOfWork, data: dict[str, Any], snapshot: Snapshot) -> TeamMember:
    """A duplicate email in the caller's tenant is a 409 from the unique constraint itself."""
    fields = validate(TeamMemberFields, data)
    row = TeamMember(
        **fields.model_dump(mode="json"), organization_id=0, environment="", public_id=""
    )
    return await crud.create(uow, TEAM_MEMBERS, row, snapshot, fields=sorted(data))


def _verb(row: TeamMember, changes: dict[str, Any]) -> str:
    """Any change of ``active`` is its lifecycle transition's event, whichever mutation made
    it (``updateTeamMember`` with ``active`` is a patch: no change, no event)."""
    if "active" in changes and changes["active"] != row.active:
        before = LIFECYCLE.state(row)
        after = "active" if changes["active"] else "inactive"
        return LIFECYCLE.event_of(before, after) or crud.UPDATED
    return crud.UPDATED


async def update(
    uow: UnitOfWork, public_id: str, changes: dict[str, Any], snapshot: Snapshot
) -> TeamMember:
    """``changes`` holds only the fields the caller sent; every field is non-nullable."""
    row = await get(uow, public_id)
    columns = validate(TeamMemberFields, {**_editable(row), **changes}).model_dump(mode="json")
    sent = {k: columns[k] for k in changes}
    return await crud.update(uow, TEAM_MEMBERS, row, sent, snapshot, verb=_verb(row, sent))
