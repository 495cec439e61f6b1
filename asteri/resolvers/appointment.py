"""Appointments: a customer's visit, the services to perform, its window, place and people.

The lifecycle is ``scheduled → dispatched → in_progress → completed``, with ``cancelled``
(with a reason) and ``no_show`` from scheduled or dispatched. Rescheduling, assigning and
unassigning change an appointment without changing its state; each has its own event.
Completing may also draft its invoice (``draft_invoice``, which needs ``write:invoices`` too):
the completion names the invoice, and the lifecycle's ``then`` drafts it in the same
transaction (``invoice.draft_for_appointment``).

No double booking: a team member is never assigned to two active appointments whose windows
overlap. Every write that can create an overlap (create with assignees, assign, reschedule)
first locks the rows of the members it books, in id order, with an ``UPDATE`` that changes
nothing: on PostgreSQL a concurrent booking of the same member waits for this transaction,
then sees what it wrote (READ COMMITTED re-reads per statement); on SQLite the first write of
a transaction takes the database's write lock, so bookings are serial. The overlap is then
checked inside the same transaction, and exactly one of two conflicting bookings wins.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)
from sqlalchemy import delete, exists, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.authz.scopes import Scope
from asteri.authz.tenancy import scoped, tenant, tenant_terms
from asteri.kit.errors import BadUserInput, Conflict, FieldError
from asteri.kit.ids import new_public_id
from asteri.kit.pagination import Page
from asteri.models import Customer, Service, TeamMember
from asteri.models.appointment import Appointment, AppointmentAssignee
from asteri.resolvers import crud
from asteri.resolvers.crud import Resource, SampleContext, Snapshot, Snapshots, Sort
from asteri.resolvers.customer import CUSTOMERS, AddressIn
from asteri.resolvers.lifecycle import Entering, Lifecycle, Transition, require_state
from asteri.resolvers.service import SERVICES
from asteri.resolvers.team_member import TEAM_MEMBERS
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import non_blank, refuse_nul, validate

__all__ = [
    "ACTIVE",
    "APPOINTMENTS",
    "LIFECYCLE",
    "MAX_WINDOW",
    "AppointmentFilter",
    "AppointmentOrder",
    "AppointmentStatus",
    "assign",
    "create",
    "delete_appointment",
    "get",
    "list_appointments",
    "of_customers",
    "read",
    "reschedule",
    "unassign",
    "update",
]

MAX_WINDOW = timedelta(days=14)


class AppointmentStatus(Enum):
    """Where an appointment is in its lifecycle (the values are the stored states)."""

    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


# The states that hold their members' time: what double booking is checked against.
ACTIVE = ("scheduled", "dispatched", "in_progress")
# Rescheduling: only before the work starts.
NOT_STARTED = ("scheduled", "dispatched")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompleteAppointmentFields(_Strict):
    """What completing may ask for besides: its draft invoice."""

    draft_invoice: StrictBool = False


def _drafts_invoice(entering: Entering) -> bool:
    given = entering.input
    return isinstance(given, CompleteAppointmentFields) and given.draft_invoice


# resolvers/invoice.py is imported where it is used, below: it imports resolvers/documents.py,
# which imports this module (for its appointment checks).


def _columns(entering: Entering) -> dict[str, Any]:
    columns: dict[str, Any] = {"status": entering.state}
    if entering.state == "completed":
        columns["completed_at"] = entering.at
        if _drafts_invoice(entering):
            from asteri.resolvers.invoice import INVOICES

            # Drafting writes an invoice: refused before anything is written without the scope.
            entering.principal.require(Scope.WRITE_INVOICES)
            # Named now, so the completion's own row (and event) carries it; ``_then`` drafts
            # the invoice under this id in the same transaction.
            columns["invoice_id"] = new_public_id(INVOICES.prefix)
    if entering.state == "cancelled":
        columns["cancel_reason"] = entering.reason
    return columns


async def _then(uow: UnitOfWork, row: Any, entering: Entering, snapshots: Snapshots) -> None:
    """A completion that asked for its invoice drafts it, under the id it named."""
    if not _drafts_invoice(entering):
        return
    from asteri.resolvers.invoice import draft_for_appointment

    await draft_for_appointment(uow, row, snapshots)


LIFECYCLE = Lifecycle(
    states=tuple(s.value for s in AppointmentStatus),
    transitions=(
        Transition(
            "dispatch",
            sources=("scheduled",),
            target="dispatched",
            event="dispatched",
            description="Send the assigned team out: the appointment is on its way.",
        ),
        Transition(
            "start",
            sources=("dispatched",),
            target="in_progress",
            event="started",
            description="Work has begun on site.",
        ),
        Transition(
            "complete",
            sources=("in_progress",),
            target="completed",
            event="completed",
            description="The work is done; `completedAt` records when. With `draftInvoice` "
            "(which also needs `write:invoices`), its draft invoice too, named by `invoiceId`: "
            "its approved estimate not yet converted, converted; else its services, priced "
            "from the catalog as it is now.",
            input=CompleteAppointmentFields,
        ),
        Transition(
            "cancel",
            sources=NOT_STARTED,
            target="cancelled",
            event="cancelled",
            description="Call the appointment off before work starts; the reason is kept.",
            reason=True,
        ),
        Transition(
            "mark_no_show",
            sources=NOT_STARTED,
            target="no_show",
            event="no_show",
            description="Nobody was there to let the team in.",
        ),
    ),
    state=lambda row: row.status,
    columns=_columns,
    then=_then,
)


def _sample(s: SampleContext) -> dict[str, Any]:
    return {
        "customerId": s.id_of(CUSTOMERS),
        "services": [{"serviceId": s.id_of(SERVICES), "quantity": 1}],
        "scheduledStart": "2027-03-02T15:00:00Z",
        "scheduledEnd": "2027-03-02T16:30:00Z",
        "timeZone": "America/Chicago",
        "assigneeIds": [s.id_of(TEAM_MEMBERS)],
        "notes": "Side gate is unlocked; the dog is friendly.",
    }


APPOINTMENTS = Resource(
    model=Appointment,
    name="appointment",
    prefix="apt",
    lifecycle=LIFECYCLE,
    sample=_sample,
    change={"notes": "Call 30 minutes before arrival."},
    invalid={"notes": "x" * 10_001},
    actions=("reschedule", "assign", "unassign"),
    action_events={"reschedule": "rescheduled", "assign": "assigned", "unassign": "unassigned"},
    action_samples={
        # Drafting the invoice needs another scope: the matrices complete without it.
        "complete": lambda _s: {"draftInvoice": False},
        "reschedule": lambda _s: {
            "scheduledStart": "2027-03-09T15:00:00Z",
            "scheduledEnd": "2027-03-09T16:30:00Z",
        },
        "assign": lambda s: {"teamMemberIds": [s.id_of(TEAM_MEMBERS)]},
        "unassign": lambda s: {"teamMemberIds": [s.id_of(TEAM_MEMBERS)]},
    },
    created="scheduled",
)


_START: Any = Appointment.scheduled_start


class AppointmentOrder(Enum):
    """Orderings for appointment lists (values: the ``Sort`` each one applies)."""

    SCHEDULED_START_ASC = Sort("scheduled_start_asc", _START, descending=False)
    SCHEDULED_START_DESC = Sort("scheduled_start_desc", _START, descending=True)
    CREATED_AT_DESC = Sort("created_at_desc", Appointment.created_at, descending=True)  # type: ignore[arg-type]
    UPDATED_AT_DESC = Sort("updated_at_desc", Appointment.updated_at, descending=True)  # type: ignore[arg-type]


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(name: str) -> str:
    if name not in _zones():
        raise ValueError("must be an IANA time zone name, e.g. America/Chicago")
    return name


PublicId = Annotated[str, non_blank(40)]
TimeZone = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_zone)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]


class ServiceLineIn(_Strict):
    service_id: PublicId
    quantity: Annotated[int, Field(strict=True, ge=1, le=1000)] = 1


class Window(_Strict):
    """A scheduled window: aware times (stored in UTC), end after start, at most 14 days."""

    scheduled_start: AwareDatetime
    scheduled_end: AwareDatetime
    time_zone: TimeZone

    @model_validator(mode="after")
    def _ordered(self) -> "Window":
        self.scheduled_start = self.scheduled_start.astimezone(UTC)
        self.scheduled_end = self.scheduled_end.astimezone(UTC)
        if self.scheduled_end <= self.scheduled_start:
            raise ValueError("scheduledEnd must be after scheduledStart")
        if self.scheduled_end - self.scheduled_start > MAX_WINDOW:
            raise ValueError("the window may be at most 14 days long")
        return self


class Details(_Strict):
    """What an update may change: the work and where it happens."""

    services: list[ServiceLineIn] = Field(min_length=1, max_length=50)
    address: AddressIn | None = None
    customer_address_index: Annotated[int, Field(strict=True, ge=0, le=19)] | None = None
    notes: Notes | None = None

    @model_validator(mode="after")
    def _one_address(self) -> "Details":
        if self.address is not None and self.customer_address_index is not None:
            raise ValueError("give `address` or `customerAddressIndex`, not both")
        return self


class AppointmentFields(Window, Details):
    customer_id: PublicId
    assignee_ids: list[PublicId] = Field(default_factory=list, max_length=20)


class Assignment(_Strict):
    team_member_ids: list[PublicId] = Field(min_length=1, max_length=20)


# What each action's input is validated by (``registry.validation_model``): its constraints are
# also the REST schema's and the GraphQL description's.
RescheduleAppointmentFields = Window
AssignAppointmentFields = Assignment
UnassignAppointmentFields = Assignment


@dataclass(frozen=True)
class AppointmentFilter:
    """Also the GraphQL ``AppointmentFilter`` (``schema.inputs.filter_input``)."""

    window_from: datetime | None = field(
        default=None,
        metadata={"description": "Only appointments whose window ends after this time."},
    )
    window_to: datetime | None = field(
        default=None,
        metadata={"description": "Only appointments whose window starts before this time."},
    )
    status: list[AppointmentStatus] | None = field(
        default=None, metadata={"description": "Only appointments in one of these states."}
    )
    team_member_id: str | None = field(
        default=None, metadata={"description": "Only appointments this team member is assigned."}
    )
    customer_id: str | None = field(
        default=None, metadata={"description": "Only this customer's appointments."}
    )
    updated_since: datetime | None = field(
        default=None,
        metadata={"description": "Only appointments changed at or after this time (with offset)."},
    )


def _where(f: AppointmentFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    window_from = crud.aware(f.window_from, "/filter/windowFrom")
    window_to = crud.aware(f.window_to, "/filter/windowTo")
    if window_from is not None:
        clauses.append(col(Appointment.scheduled_end) > window_from)
    if window_to is not None:
        clauses.append(col(Appointment.scheduled_start) < window_to)
    if f.status:
        clauses.append(col(Appointment.status).in_([s.value for s in f.status]))
    if f.customer_id is not None:
        refuse_nul(f.customer_id, "/filter/customerId")
        clauses.append(col(Appointment.customer_id) == f.customer_id)
    if f.team_member_id is not None:
        refuse_nul(f.team_member_id, "/filter/teamMemberId")
        clauses.append(
            exists().where(
                *tenant_terms(AppointmentAssignee),
                *tenant_terms(TeamMember),
                col(AppointmentAssignee.appointment_id) == col(Appointment.id),
                col(AppointmentAssignee.team_member_id) == col(TeamMember.id),
                col(TeamMember.public_id) == f.team_member_id,
            )
        )
    clauses += crud.updated_since(col(Appointment.updated_at), f.updated_since)
    return clauses


async def list_appointments(
    uow: UnitOfWork,
    *,
    filter: AppointmentFilter,
    sort: AppointmentOrder,
    first: int,
    after: str | None,
    with_customers: bool = False,
) -> Page[Appointment]:
    """``with_customers``: each appointment's customer read in the same statement (a list
    that shows them), in ``Page.joined``."""
    return await crud.list_page(
        uow,
        APPOINTMENTS,
        where=_where(filter),
        sort=sort.value,
        first=first,
        after=after,
        joined=_WITH_CUSTOMER if with_customers else None,
    )


_WITH_CUSTOMER = crud.Joined(CUSTOMERS, on="customer_id")


async def of_customers(
    uow: UnitOfWork, customer_ids: Sequence[str], *, first: int
) -> list[list[Any]]:
    """The ``first`` latest-starting appointments of each customer, in one statement (a
    list's ``Customer.appointments``, batched by a DataLoader)."""
    statement = (
        scoped(Appointment)
        .where(col(Appointment.customer_id).in_(list(customer_ids)))
        .order_by(col(Appointment.scheduled_start).desc(), col(Appointment.public_id).desc())
    )
    return await crud.first_of_each(uow, statement, customer_ids, key="customer_id", first=first)


async def read(uow: UnitOfWork, public_id: str) -> Any:
    """For a query: the row's columns, no ORM object."""
    return await crud.read(uow, APPOINTMENTS, public_id)


async def get(uow: UnitOfWork, public_id: str) -> Appointment:
    row: Appointment = await crud.get(uow, APPOINTMENTS, public_id)
    return row


def _refused(pointer: str, message: str, detail: str) -> BadUserInput:
    return BadUserInput(detail, errors=[FieldError(pointer, message)])


async def _rows_by_public_id(
    uow: UnitOfWork, model: Any, public_ids: Sequence[str]
) -> dict[str, Any]:
    """The caller's rows of ``model`` with these ids, in the write's transaction."""
    statement = scoped(model).where(col(model.public_id).in_(sorted(set(public_ids))))
    found = await uow.session.scalars(statement, tenant(uow.principal))
    return {row.public_id: row for row in found}


async def _customer(uow: UnitOfWork, customer_id: str) -> Customer:
    found = await _rows_by_public_id(uow, Customer, [customer_id])
    if customer_id not in found:
        raise _refused(
            "/input/customerId", "no such customer", f"No customer with id `{customer_id}`."
        )
    row: Customer = found[customer_id]
    return row


async def _service_lines(uow: UnitOfWork, lines: list[ServiceLineIn]) -> list[dict[str, Any]]:
    """Each line's service must be one of the caller's, and still offered (active)."""
    found = await _rows_by_public_id(uow, Service, [line.service_id for line in lines])
    for i, line in enumerate(lines):
        service = found.get(line.service_id)
        pointer = f"/input/services/{i}/serviceId"
        if service is None:
            raise _refused(pointer, "no such service", f"No service with id `{line.service_id}`.")
        if not service.active:
            raise _refused(
                pointer, "inactive", f"Service `{line.service_id}` is inactive: not offered."
            )
    return [line.model_dump() for line in lines]


def _address(details: Details, customer: Customer) -> dict[str, Any]:
    """Given inline, or one of the customer's addresses (by position; by default its
    primary one). The appointment keeps a copy: where the work was booked stays put."""
    if details.address is not None:
        return details.address.model_dump(mode="json")
    addresses = customer.addresses
    if details.customer_address_index is not None:
        if details.customer_address_index >= len(addresses):
            raise _refused(
                "/input/customerAddressIndex",
                f"the customer has {len(addresses)} addresses",
                "`customerAddressIndex` is past the end of the customer's addresses.",
            )
        return addresses[details.customer_address_index]
    primary = [a for a in addresses if a.get("primary")] or addresses
    if not primary:
        raise _refused(
            "/input/address",
            "required: the customer has no address",
            "The customer has no address: give `address`.",
        )
    return primary[0]


async def _members(uow: UnitOfWork, member_ids: Sequence[str], pointer: str) -> list[TeamMember]:
    """The caller's team members with these ids, each active, in the order given."""
    found = await _rows_by_public_id(uow, TeamMember, member_ids)
    members: list[TeamMember] = []
    for i, member_id in enumerate(member_ids):
        member = found.get(member_id)
        if member is None:
            raise _refused(
                f"{pointer}/{i}", "no such team member", f"No team member with id `{member_id}`."
            )
        if not member.active:
            raise _refused(
                f"{pointer}/{i}",
                "inactive",
                f"Team member `{member_id}` is inactive: not given new work.",
            )
        if member not in members:
            members.append(member)
    return members


async def _book(
    uow: UnitOfWork,
    members: Sequence[TeamMember],
    start: datetime,
    end: datetime,
    *,
    pointer: str,
    appointment_id: int | None = None,
) -> None:
    """Lock the members' rows (see the module's docstring), then refuse the booking with
    409 ``schedule_conflict`` if one of them has another active appointment that overlaps."""
    by_id: dict[int, TeamMember] = {m.id: m for m in members if m.id is not None}
    for member_id in sorted(by_id):
        locked = await uow.session.execute(
            sql_update(TeamMember)
            .where(
                *tenant_terms(TeamMember),
                col(TeamMember.id) == member_id,
                col(TeamMember.active).is_(True),
            )
            .values(active=col(TeamMember.active))
            .execution_options(synchronize_session=False),
            tenant(uow.principal),
        )
        if locked.rowcount != 1:  # type: ignore[attr-defined]
            member = by_id[member_id]
            raise _refused(
                pointer,
                "inactive",
                f"Team member `{member.public_id}` is inactive: not given new work.",
            )
    if not by_id:
        return
    clash = await uow.session.execute(
        select(
            col(Appointment.public_id),
            col(Appointment.scheduled_start),
            col(Appointment.scheduled_end),
            col(AppointmentAssignee.team_member_id),
        )
        .join(
            AppointmentAssignee,
            col(AppointmentAssignee.appointment_id) == col(Appointment.id),
        )
        .where(
            *tenant_terms(Appointment),
            *tenant_terms(AppointmentAssignee),
            col(Appointment.deleted_at).is_(None),
            col(AppointmentAssignee.team_member_id).in_(sorted(by_id)),
            col(Appointment.status).in_(ACTIVE),
            col(Appointment.scheduled_start) < end,
            col(Appointment.scheduled_end) > start,
            col(Appointment.id) != (appointment_id or 0),
        )
        .order_by(col(Appointment.scheduled_start))
        .limit(1),
        tenant(uow.principal),
    )
    other = clash.first()
    if other is not None:
        member = by_id[other.team_member_id]
        raise Conflict(
            f"{member.name} (`{member.public_id}`) is already booked on appointment "
            f"`{other.public_id}` from {other.scheduled_start.isoformat()} to "
            f"{other.scheduled_end.isoformat()}, which overlaps this window.",
            reason="schedule_conflict",
            conflicting_appointment_id=other.public_id,
            team_member_id=member.public_id,
        )


async def _write_assignees(uow: UnitOfWork, row: Appointment, members: list[TeamMember]) -> None:
    """Keep ``appointment_assignees`` equal to the row's ``assignee_ids`` (one writer)."""
    await uow.session.execute(
        delete(AppointmentAssignee).where(col(AppointmentAssignee.appointment_id) == row.id)
    )
    if members:
        await uow.session.execute(
            insert(AppointmentAssignee),
            [
                {
                    "appointment_id": row.id,
                    "team_member_id": m.id,
                    "organization_id": row.organization_id,
                    "environment": row.environment,
                }
                for m in members
            ],
        )


async def create(uow: UnitOfWork, data: dict[str, Any], snapshot: Snapshot) -> Appointment:
    """A new appointment is ``scheduled`` (its event: ``appointment.scheduled``)."""
    fields = validate(AppointmentFields, data)
    customer = await _customer(uow, fields.customer_id)
    lines = await _service_lines(uow, fields.services)
    address = _address(fields, customer)
    members = await _members(uow, fields.assignee_ids, "/input/assigneeIds")
    await _book(
        uow, members, fields.scheduled_start, fields.scheduled_end, pointer="/input/assigneeIds"
    )
    row = Appointment(
        customer_id=customer.public_id,
        status="scheduled",
        scheduled_start=fields.scheduled_start,
        scheduled_end=fields.scheduled_end,
        time_zone=fields.time_zone,
        address=address,
        services=lines,
        assignee_ids=[m.public_id for m in members],
        notes=fields.notes,
        organization_id=0,
        environment="",
        public_id="",
    )
    row = await crud.create(uow, APPOINTMENTS, row, snapshot, fields=sorted(data))
    await _write_assignees(uow, row, members)
    return row


async def update(
    uow: UnitOfWork, public_id: str, changes: dict[str, Any], snapshot: Snapshot
) -> Appointment:
    """The work and the place (``services``, ``address``, ``notes``); the window, the people
    and the state change through their own mutations."""
    row = await get(uow, public_id)
    current = {"services": row.services, "notes": row.notes}
    details = validate(Details, {**current, **changes})
    columns: dict[str, Any] = {}
    if "services" in changes:
        columns["services"] = await _service_lines(uow, details.services)
    if "notes" in changes:
        columns["notes"] = details.notes
    if "address" in changes or "customer_address_index" in changes:
        customer = await _customer(uow, row.customer_id)
        columns["address"] = _address(details, customer)
    return await crud.update(uow, APPOINTMENTS, row, columns, snapshot)


async def reschedule(
    uow: UnitOfWork, public_id: str, data: dict[str, Any], snapshot: Snapshot
) -> Appointment:
    """A new window (and zone), before work starts; its people must be free then."""
    row = await get(uow, public_id)
    require_state(APPOINTMENTS, row, "reschedule", NOT_STARTED)
    window = validate(Window, {"time_zone": row.time_zone, **data})
    # Its people must be free in the new window (a member deactivated since holds no time).
    members = [m for m in await _current_members(uow, row) if m.active]
    await _book(
        uow,
        members,
        window.scheduled_start,
        window.scheduled_end,
        pointer="/input",
        appointment_id=row.id,
    )
    return await crud.update(
        uow,
        APPOINTMENTS,
        row,
        window.model_dump(),
        snapshot,
        verb=APPOINTMENTS.event_of("reschedule"),
    )


async def assign(
    uow: UnitOfWork, public_id: str, data: dict[str, Any], snapshot: Snapshot
) -> Appointment:
    """Add team members (active, and free for the window); those already assigned stay."""
    row = await get(uow, public_id)
    require_state(APPOINTMENTS, row, "assign", ACTIVE)
    wanted = validate(Assignment, data).team_member_ids
    members = await _members(uow, wanted, "/input/teamMemberIds")
    added = [m for m in members if m.public_id not in row.assignee_ids]
    await _book(
        uow,
        added,
        row.scheduled_start,
        row.scheduled_end,
        pointer="/input/teamMemberIds",
        appointment_id=row.id,
    )
    if not added:
        return row
    everyone = [*await _current_members(uow, row), *added]
    row = await crud.update(
        uow,
        APPOINTMENTS,
        row,
        {"assignee_ids": [*row.assignee_ids, *(m.public_id for m in added)]},
        snapshot,
        verb=APPOINTMENTS.event_of("assign"),
    )
    await _write_assignees(uow, row, everyone)
    return row


async def unassign(
    uow: UnitOfWork, public_id: str, data: dict[str, Any], snapshot: Snapshot
) -> Appointment:
    """Take team members off; one not assigned is no change."""
    row = await get(uow, public_id)
    require_state(APPOINTMENTS, row, "unassign", ACTIVE)
    removed = set(validate(Assignment, data).team_member_ids)
    kept = [m for m in row.assignee_ids if m not in removed]
    if kept == row.assignee_ids:
        return row
    remaining = [m for m in await _current_members(uow, row) if m.public_id in kept]
    row = await crud.update(
        uow,
        APPOINTMENTS,
        row,
        {"assignee_ids": kept},
        snapshot,
        verb=APPOINTMENTS.event_of("unassign"),
    )
    await _write_assignees(uow, row, remaining)
    return row


async def _current_members(uow: UnitOfWork, row: Appointment) -> list[TeamMember]:
    found = await _rows_by_public_id(uow, TeamMember, row.assignee_ids)
    return [found[m] for m in row.assignee_ids if m in found]


async def delete_appointment(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> Appointment:
    """Gone from every read, its history kept; it no longer holds its members' time."""
    row = await get(uow, public_id)
    return await crud.soft_delete(uow, APPOINTMENTS, row, snapshot)
