"""Services in the public schema: the catalog DTO, its inputs, and its root fields."""

from datetime import datetime

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.models import Service as ServiceRow
from asteri.resolvers import service as services
from asteri.schema.context import RequestContext
from asteri.schema.fields import RootFields, mutation, query, version_field
from asteri.schema.inputs import DeletedObject, filter_input, sent_values
from asteri.schema.money import Money, MoneyInput
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.snapshot import snapshot_of

__all__ = ["Service", "ServiceMutations", "ServiceQueries"]

Ctx = Info[RequestContext, None]


@strawberry.type(
    description=(
        "A catalog entry: work the organization sells, with its price, expected duration and "
        "booking configuration."
    )
)
class Service:
    id: strawberry.ID
    name: str
    description: str | None
    unit_price: Money = strawberry.field(description="Price of one unit of the service.")
    duration_minutes: int = strawberry.field(description="Expected duration, 1 to 1440 minutes.")
    taxable: bool = strawberry.field(description="Whether sales tax applies to this service.")
    bookable_online: bool = strawberry.field(
        description="Whether customers may book this service themselves online."
    )
    active: bool = strawberry.field(
        description="Inactive services are kept for history but not offered for new work."
    )
    created_at: datetime
    updated_at: datetime
    version: int = version_field()

    @classmethod
    def from_row(cls, row: ServiceRow) -> "Service":
        return SERVICE_ROWS.build(row)


SERVICE_ROWS = RowMap(
    Service,
    id="public_id",
    unit_price=lambda row: Money.of(row.unit_price_amount, row.currency),
)
snapshot = snapshot_of(Service.from_row)


ServiceOrder = services.ServiceOrder  # its members are the resolvers' orderings
strawberry.enum(ServiceOrder, description="Orderings for service lists; ties are broken by id.")


ServiceFilter = services.ServiceFilter  # the resolvers' filter, also the GraphQL input
filter_input(ServiceFilter, description="Narrow a service list; all conditions must hold.")


@strawberry.input(description="A new service. `name`, `unitPrice` and `durationMinutes` required.")
class CreateServiceInput:
    name: str
    description: str | None = UNSET
    unit_price: MoneyInput
    duration_minutes: int = strawberry.field(description="Expected duration in minutes.")
    taxable: bool = True
    bookable_online: bool = False
    active: bool = True


@strawberry.input(
    description=(
        "Changes to a service: absent fields are untouched, null clears `description`; null on "
        "any other field is refused. `unitPrice` is replaced whole (amount and currency)."
    )
)
class UpdateServiceInput:
    name: str | None = UNSET
    description: str | None = UNSET
    unit_price: MoneyInput | None = UNSET
    duration_minutes: int | None = UNSET
    taxable: bool | None = UNSET
    bookable_online: bool | None = UNSET
    active: bool | None = UNSET


@strawberry.type
class ServiceQueries:
    @query(Scope.READ_SERVICES, description="A service by id; null with NOT_FOUND if absent.")
    async def service(self, info: Ctx, id: strawberry.ID) -> Service | None:
        return Service.from_row(await services.read(info.context.uow, str(id)))

    @query(
        Scope.READ_SERVICES,
        description="Services, active and inactive, newest first unless `orderBy` says.",
    )
    async def services(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: ServiceFilter | None = None,
        order_by: ServiceOrder = ServiceOrder.CREATED_AT_DESC,
    ) -> Connection[Service]:
        page = await services.list_services(
            info.context.uow,
            filter=filter or ServiceFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, Service.from_row)


@strawberry.type
class ServiceMutations:
    @mutation(Scope.WRITE_SERVICES, description="Add a service to the catalog.")
    async def create_service(self, info: Ctx, input: CreateServiceInput) -> Service:
        row = await services.create(info.context.uow, sent_values(input), snapshot)
        return Service.from_row(row)

    @mutation(Scope.WRITE_SERVICES, description="Change some fields of a service.")
    async def update_service(
        self, info: Ctx, id: strawberry.ID, input: UpdateServiceInput
    ) -> Service:
        row = await services.update(info.context.uow, str(id), sent_values(input), snapshot)
        return Service.from_row(row)

    @mutation(
        Scope.DELETE_SERVICES,
        description=(
            "Delete a service: gone from every read (404 after), its history kept. To stop "
            "offering it but keep it visible, set `active: false` instead."
        ),
    )
    async def delete_service(self, info: Ctx, id: strawberry.ID) -> DeletedObject:
        row = await services.delete_service(info.context.uow, str(id), snapshot)
        return DeletedObject(id=strawberry.ID(row.public_id))


ROOT_FIELDS = RootFields(queries=(ServiceQueries,), mutations=(ServiceMutations,))
