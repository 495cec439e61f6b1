"""Customers in the public schema: the DTO, its inputs, and its root fields."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.models import Customer as CustomerRow
from asteri.resolvers import appointment as appointments
from asteri.resolvers import audit, crud
from asteri.resolvers import customer as customers
from asteri.resolvers.crud import Resource
from asteri.resolvers.estimate import ESTIMATES
from asteri.resolvers.invoice import INVOICES
from asteri.resolvers.payment import PAYMENTS
from asteri.schema.activity import ActivityEntry
from asteri.schema.context import RequestContext
from asteri.schema.fields import RootFields, mutation, query, related, version_field
from asteri.schema.inputs import DeletedObject, filter_input, sent_values
from asteri.schema.lifecycle import lifecycle_mutations
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.snapshot import snapshot_of

if TYPE_CHECKING:
    from asteri.schema.appointment import Appointment
    from asteri.schema.estimate import Estimate
    from asteri.schema.invoice import Invoice
    from asteri.schema.payment import Payment

__all__ = ["Customer", "CustomerLifecycle", "CustomerMutations", "CustomerQueries"]

Ctx = Info[RequestContext, None]


@strawberry.type(description="An email address of a customer.")
class EmailAddress:
    address: str
    label: str | None
    primary: bool


@strawberry.type(description="A phone number of a customer.")
class PhoneNumber:
    number: str
    label: str | None
    primary: bool


@strawberry.type(description="A place where work is done for a customer.")
class ServiceAddress:
    line1: str
    line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    label: str | None
    primary: bool


@strawberry.type(description="A person or business the organization does work for.")
class Customer:
    id: strawberry.ID
    display_name: str
    given_name: str | None
    family_name: str | None
    company: str | None
    emails: list[EmailAddress]
    phones: list[PhoneNumber]
    addresses: list[ServiceAddress] = strawberry.field(description="Service addresses.")
    tags: list[str]
    notes: str | None
    archived: bool
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int = version_field()

    @classmethod
    def from_row(cls, row: CustomerRow) -> "Customer":
        return CUSTOMER_ROWS.build(row)

    @related(
        Scope.READ_CUSTOMERS,
        description="The customer's history, newest first, from the audit trail.",
    )
    async def activity(self, info: Ctx, first: int = 20) -> list[ActivityEntry]:
        rows = await info.context.children(
            "customer.activity", str(self.id), page_size(first), audit.activity_of_many
        )
        return [ActivityEntry.from_row(r) for r in rows]

    @related(
        Scope.READ_APPOINTMENTS,
        description="The customer's appointments, latest start first.",
    )
    async def appointments(
        self, info: Ctx, first: int = 20
    ) -> list[Annotated["Appointment", strawberry.lazy("asteri.schema.appointment")]]:
        from asteri.schema.appointment import Appointment  # it refers back to Customer

        rows = await info.context.children(
            "customer.appointments", str(self.id), page_size(first), appointments.of_customers
        )
        return [Appointment.from_row(r) for r in rows]

    @related(Scope.READ_ESTIMATES, description="The customer's estimates, newest first.")
    async def estimates(
        self, info: Ctx, first: int = 20
    ) -> list[Annotated["Estimate", strawberry.lazy("asteri.schema.estimate")]]:
        from asteri.schema.estimate import Estimate  # it refers back to Customer

        rows = await info.context.children(
            "customer.estimates", str(self.id), page_size(first), _of_customer(ESTIMATES)
        )
        return [Estimate.from_row(r) for r in rows]

    @related(Scope.READ_INVOICES, description="The customer's invoices, newest first.")
    async def invoices(
        self, info: Ctx, first: int = 20
    ) -> list[Annotated["Invoice", strawberry.lazy("asteri.schema.invoice")]]:
        from asteri.schema.invoice import Invoice  # it refers back to Customer

        rows = await info.context.children(
            "customer.invoices", str(self.id), page_size(first), _of_customer(INVOICES)
        )
        return [Invoice.from_row(r) for r in rows]

    @related(Scope.READ_PAYMENTS, description="The customer's payments, newest first.")
    async def payments(
        self, info: Ctx, first: int = 20
    ) -> list[Annotated["Payment", strawberry.lazy("asteri.schema.payment")]]:
        from asteri.schema.payment import Payment  # it refers back to Customer

        rows = await info.context.children(
            "customer.payments", str(self.id), page_size(first), _of_customer(PAYMENTS)
        )
        return [Payment.from_row(r) for r in rows]


def _of_customer(resource: Resource) -> Callable[..., Awaitable[list[list[Any]]]]:
    """The batch of a customer's newest objects of ``resource`` (``crud.newest_of_each``)."""
    return partial(crud.newest_of_each, resource=resource, key="customer_id")


CUSTOMER_ROWS = RowMap(
    Customer,
    id="public_id",
    archived=lambda row: row.archived_at is not None,
    emails=EmailAddress,
    phones=PhoneNumber,
    addresses=ServiceAddress,
)
snapshot = snapshot_of(Customer.from_row)


CustomerOrder = customers.CustomerOrder  # its members are the resolvers' orderings
strawberry.enum(CustomerOrder, description="Orderings for customer lists.")


CustomerFilter = customers.CustomerFilter  # the resolvers' filter, also the GraphQL input
filter_input(CustomerFilter, description="Narrow a customer list; all conditions must hold.")


@strawberry.input
class EmailAddressInput:
    address: str
    label: str | None = None
    primary: bool = False


@strawberry.input
class PhoneNumberInput:
    number: str
    label: str | None = None
    primary: bool = False


@strawberry.input
class ServiceAddressInput:
    line1: str
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    label: str | None = None
    primary: bool = False


@strawberry.input(description="A new customer. Only `displayName` is required.")
class CreateCustomerInput:
    display_name: str
    given_name: str | None = UNSET
    family_name: str | None = UNSET
    company: str | None = UNSET
    emails: list[EmailAddressInput] | None = UNSET
    phones: list[PhoneNumberInput] | None = UNSET
    addresses: list[ServiceAddressInput] | None = UNSET
    tags: list[str] | None = UNSET
    notes: str | None = UNSET


@strawberry.input(description="Changes to a customer: absent fields are untouched, null clears.")
class UpdateCustomerInput:
    display_name: str | None = UNSET
    given_name: str | None = UNSET
    family_name: str | None = UNSET
    company: str | None = UNSET
    emails: list[EmailAddressInput] | None = UNSET
    phones: list[PhoneNumberInput] | None = UNSET
    addresses: list[ServiceAddressInput] | None = UNSET
    tags: list[str] | None = UNSET
    notes: str | None = UNSET


def _lists_cleared(values: dict[str, object]) -> dict[str, object]:
    """A null list means an empty list: lists are never null in the DTO."""
    return {k: ([] if v is None and k in _LISTS else v) for k, v in values.items()}


_LISTS = {"emails", "phones", "addresses", "tags"}


@strawberry.type
class CustomerQueries:
    @query(Scope.READ_CUSTOMERS, description="A customer by id; null with NOT_FOUND if absent.")
    async def customer(self, info: Ctx, id: strawberry.ID) -> Customer | None:
        return Customer.from_row(await customers.read(info.context.uow, str(id)))

    @query(Scope.READ_CUSTOMERS, description="Customers, newest first unless `orderBy` says.")
    async def customers(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: CustomerFilter | None = None,
        order_by: CustomerOrder = CustomerOrder.CREATED_AT_DESC,
    ) -> Connection[Customer]:
        page = await customers.list_customers(
            info.context.uow,
            filter=filter or CustomerFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, Customer.from_row)


@strawberry.type
class CustomerMutations:
    @mutation(Scope.WRITE_CUSTOMERS, description="Create a customer.")
    async def create_customer(self, info: Ctx, input: CreateCustomerInput) -> Customer:
        values = _lists_cleared(sent_values(input))
        return Customer.from_row(await customers.create(info.context.uow, values, snapshot))

    @mutation(Scope.WRITE_CUSTOMERS, description="Change some fields of a customer.")
    async def update_customer(
        self, info: Ctx, id: strawberry.ID, input: UpdateCustomerInput
    ) -> Customer:
        values = _lists_cleared(sent_values(input))
        row = await customers.update(info.context.uow, str(id), values, snapshot)
        return Customer.from_row(row)

    @mutation(Scope.DELETE_CUSTOMERS, description="Delete a customer; its history is kept.")
    async def delete_customer(
        self, info: Ctx, id: Annotated[strawberry.ID, strawberry.argument()]
    ) -> DeletedObject:
        row = await customers.delete_customer(info.context.uow, str(id), snapshot)
        return DeletedObject(id=strawberry.ID(row.public_id))


CustomerLifecycle = lifecycle_mutations(
    Customer,
    resource=customers.CUSTOMERS,
    scope=Scope.WRITE_CUSTOMERS,
    from_row=Customer.from_row,
    snapshot=snapshot,
)


ROOT_FIELDS = RootFields(
    queries=(CustomerQueries,),
    mutations=(
        CustomerMutations,
        CustomerLifecycle,
    ),
)
