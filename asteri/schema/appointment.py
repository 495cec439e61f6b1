"""Appointments in the public schema: the DTO, its inputs, its root fields and its lifecycle.

Related objects (the customer, the services, the assignees) are fields with their own read
scope, loaded through the request's DataLoaders: a page of appointments costs one statement
per kind of related object, whatever its size. A list that shows the customer reads it in the
list's own statement (``with_customers``) and primes the loader with it.
"""

from datetime import datetime
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from asteri.authz.scopes import Scope
from asteri.models.appointment import Appointment as AppointmentRow
from asteri.resolvers import appointment as appointments
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.service import SERVICES
from asteri.resolvers.team_member import TEAM_MEMBERS
from asteri.schema.context import RequestContext
from asteri.schema.customer import Customer, ServiceAddress, ServiceAddressInput
from asteri.schema.fields import RootFields, mutation, query, related, version_field
from asteri.schema.inputs import DeletedObject, filter_input, sent_values
from asteri.schema.lifecycle import lifecycle_mutations
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.service import Service
from asteri.schema.snapshot import snapshot_of
from asteri.schema.team_member import TeamMember

__all__ = ["Appointment", "AppointmentMutations", "AppointmentQueries"]

Ctx = Info[RequestContext, None]

AppointmentStatus = appointments.AppointmentStatus  # the stored states, as the GraphQL enum
strawberry.enum(AppointmentStatus, description="Where an appointment is in its lifecycle.")


@strawberry.type(description="A catalog service to perform on an appointment, and how many.")
class AppointmentService:
    service_id: strawberry.ID
    quantity: int

    @related(Scope.READ_SERVICES, description="The catalog service; null if deleted since.")
    async def service(self, info: Ctx) -> Service | None:
        row = await info.context.by_id(SERVICES).load(str(self.service_id))
        return None if row is None else Service.from_row(row)


@strawberry.type(
    description=(
        "A visit to a customer: the services to perform, a scheduled window, the place and the "
        "team members sent."
    )
)
class Appointment:
    id: strawberry.ID
    customer_id: strawberry.ID
    status: AppointmentStatus
    scheduled_start: datetime = strawberry.field(description="Start of the window (UTC).")
    scheduled_end: datetime = strawberry.field(
        description="End of the window (UTC): after the start, at most 14 days later."
    )
    time_zone: str = strawberry.field(
        description="The site's IANA time zone, to show the window in local time."
    )
    address: ServiceAddress = strawberry.field(
        description="Where the work is done, as it was when booked."
    )
    services: list[AppointmentService]
    assignee_ids: list[strawberry.ID] = strawberry.field(
        description="The team members assigned, in the order they were assigned."
    )
    notes: str | None
    completed_at: datetime | None
    cancel_reason: str | None = strawberry.field(description="Why it was cancelled.")
    invoice_id: strawberry.ID | None = strawberry.field(
        description="The invoice its completion drafted, if asked."
    )
    created_at: datetime
    updated_at: datetime
    version: int = version_field()

    @classmethod
    def from_row(cls, row: AppointmentRow) -> "Appointment":
        return APPOINTMENT_ROWS.build(row)

    @related(Scope.READ_CUSTOMERS, description="The customer; null if deleted since.")
    async def customer(self, info: Ctx) -> Customer | None:
        row = await info.context.by_id(CUSTOMERS).load(str(self.customer_id))
        return None if row is None else Customer.from_row(row)

    @related(Scope.READ_TEAM, description="The team members assigned.")
    async def assignees(self, info: Ctx) -> list[TeamMember]:
        rows = await info.context.by_id(TEAM_MEMBERS).load_many([str(i) for i in self.assignee_ids])
        return [TeamMember.from_row(row) for row in rows if row is not None]


APPOINTMENT_ROWS = RowMap(
    Appointment,
    id="public_id",
    status=lambda row: AppointmentStatus(row.status),
    address=ServiceAddress,
    services=AppointmentService,
)
snapshot = snapshot_of(Appointment.from_row)


AppointmentOrder = appointments.AppointmentOrder  # its members are the resolvers' orderings
strawberry.enum(AppointmentOrder, description="Orderings for appointment lists.")

AppointmentFilter = appointments.AppointmentFilter  # the resolvers' filter, the GraphQL input
filter_input(AppointmentFilter, description="Narrow an appointment list; all must hold.")


@strawberry.input(description="A catalog service to perform, and how many units (default 1).")
class AppointmentServiceInput:
    service_id: strawberry.ID
    quantity: int = 1


@strawberry.input(
    description=(
        "A new appointment, `scheduled`. The address is given inline, or one of the "
        "customer's by position (`customerAddressIndex`), or else the customer's primary one."
    )
)
class CreateAppointmentInput:
    customer_id: strawberry.ID
    services: list[AppointmentServiceInput] = strawberry.field(description="The work, by line.")
    scheduled_start: datetime = strawberry.field(description="With a UTC offset.")
    scheduled_end: datetime = strawberry.field(
        description="With a UTC offset; after the start, at most 14 days later."
    )
    time_zone: str = strawberry.field(description="IANA time zone name: America/Chicago.")
    address: ServiceAddressInput | None = UNSET
    customer_address_index: int | None = UNSET
    assignee_ids: list[strawberry.ID] | None = strawberry.field(
        default=UNSET, description="Active team members, free for the whole window."
    )
    notes: str | None = UNSET


@strawberry.input(
    description=(
        "Changes to the work and the place: absent fields are untouched; null `notes` clears "
        "them, null `address` means the customer's primary address. The window, the people "
        "and the state change through their own mutations."
    )
)
class UpdateAppointmentInput:
    services: list[AppointmentServiceInput] | None = UNSET
    address: ServiceAddressInput | None = UNSET
    customer_address_index: int | None = UNSET
    notes: str | None = UNSET


@strawberry.input(description="A new window; the zone stays unless given.")
class RescheduleAppointmentInput:
    scheduled_start: datetime
    scheduled_end: datetime
    time_zone: str | None = UNSET


@strawberry.input(description="Team members to add: active, and free for the whole window.")
class AssignAppointmentInput:
    team_member_ids: list[strawberry.ID]


@strawberry.input(description="Team members to take off; one not assigned is no change.")
class UnassignAppointmentInput:
    team_member_ids: list[strawberry.ID]


@strawberry.input(description="What completing may also do; leave it out for nothing more.")
class CompleteAppointmentInput:
    draft_invoice: bool = strawberry.field(
        default=False,
        description="Also draft its invoice (needs `write:invoices`): its approved estimate "
        "not yet converted, converted; else its services, priced from the catalog as it is "
        "now. The appointment's `invoiceId` names it.",
    )


def _selects(selections: list[Selection], path: tuple[str, ...]) -> bool:
    """Whether ``selections`` (a field's ``info.selected_fields``) select ``path``, through
    fragments too."""
    if not path:
        return True
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == path[0] and _selects(selection.selections, path[1:]):
                return True
        elif _selects(selection.selections, path):  # a fragment: its fields count as ours
            return True
    return False


@strawberry.type
class AppointmentQueries:
    @query(Scope.READ_APPOINTMENTS, description="An appointment by id; null with NOT_FOUND.")
    async def appointment(self, info: Ctx, id: strawberry.ID) -> Appointment | None:
        return Appointment.from_row(await appointments.read(info.context.uow, str(id)))

    @query(
        Scope.READ_APPOINTMENTS,
        description="Appointments, by scheduled start unless `orderBy` says; every state.",
    )
    async def appointments(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: AppointmentFilter | None = None,
        order_by: AppointmentOrder = AppointmentOrder.SCHEDULED_START_ASC,
    ) -> Connection[Appointment]:
        with_customers = _selects(info.selected_fields, ("appointments", "nodes", "customer"))
        page = await appointments.list_appointments(
            info.context.uow,
            filter=filter or AppointmentFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
            with_customers=with_customers,
        )
        if page.joined is not None:
            loader = info.context.by_id(CUSTOMERS)
            for item, customer in zip(page.items, page.joined, strict=True):
                loader.prime(item.customer_id, customer)
        return Connection.of(page, Appointment.from_row)


def _assignees_cleared(values: dict[str, Any]) -> dict[str, Any]:
    """A null list of assignees means none."""
    if values.get("assignee_ids", ()) is None:
        values["assignee_ids"] = []
    return values


@strawberry.type
class AppointmentMutations:
    @mutation(
        Scope.WRITE_APPOINTMENTS,
        description="Schedule an appointment. A member booked elsewhere then is a CONFLICT.",
    )
    async def create_appointment(self, info: Ctx, input: CreateAppointmentInput) -> Appointment:
        values = _assignees_cleared(sent_values(input))
        row = await appointments.create(info.context.uow, values, snapshot)
        return Appointment.from_row(row)

    @mutation(Scope.WRITE_APPOINTMENTS, description="Change the work, the place or the notes.")
    async def update_appointment(
        self, info: Ctx, id: strawberry.ID, input: UpdateAppointmentInput
    ) -> Appointment:
        row = await appointments.update(info.context.uow, str(id), sent_values(input), snapshot)
        return Appointment.from_row(row)

    @mutation(
        Scope.WRITE_APPOINTMENTS,
        description="Move the window, before work starts. Its members must be free then.",
    )
    async def reschedule_appointment(
        self, info: Ctx, id: strawberry.ID, input: RescheduleAppointmentInput
    ) -> Appointment:
        uow = info.context.uow
        row = await appointments.reschedule(uow, str(id), sent_values(input), snapshot)
        return Appointment.from_row(row)

    @mutation(
        Scope.WRITE_APPOINTMENTS,
        description="Assign team members. One booked elsewhere in the window is a CONFLICT.",
    )
    async def assign_appointment(
        self, info: Ctx, id: strawberry.ID, input: AssignAppointmentInput
    ) -> Appointment:
        row = await appointments.assign(info.context.uow, str(id), sent_values(input), snapshot)
        return Appointment.from_row(row)

    @mutation(Scope.WRITE_APPOINTMENTS, description="Take team members off an appointment.")
    async def unassign_appointment(
        self, info: Ctx, id: strawberry.ID, input: UnassignAppointmentInput
    ) -> Appointment:
        uow = info.context.uow
        row = await appointments.unassign(uow, str(id), sent_values(input), snapshot)
        return Appointment.from_row(row)

    @mutation(
        Scope.DELETE_APPOINTMENTS,
        description="Delete an appointment: gone from every read, its history kept.",
    )
    async def delete_appointment(self, info: Ctx, id: strawberry.ID) -> DeletedObject:
        row = await appointments.delete_appointment(info.context.uow, str(id), snapshot)
        return DeletedObject(id=strawberry.ID(row.public_id))


AppointmentLifecycle = lifecycle_mutations(
    Appointment,
    resource=appointments.APPOINTMENTS,
    scope=Scope.WRITE_APPOINTMENTS,
    from_row=Appointment.from_row,
    snapshot=snapshot,
    inputs=(CompleteAppointmentInput,),
)


ROOT_FIELDS = RootFields(
    queries=(AppointmentQueries,),
    mutations=(AppointmentMutations, AppointmentLifecycle),
)
