"""Services: the catalog of what an organization sells, with price, duration and booking flags."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.kit.pagination import Page
from asteri.models import Service
from asteri.resolvers import crud
from asteri.resolvers.crud import Resource, Snapshot, Sort
from asteri.resolvers.money import MoneyFields
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import non_blank, validate

__all__ = [
    "SERVICES",
    "ServiceFields",
    "ServiceFilter",
    "ServiceOrder",
    "create",
    "delete_service",
    "get",
    "list_services",
    "update",
]

SERVICES = Resource(
    model=Service,
    name="service",
    prefix="svc",
    sample=lambda s: {
        "name": f"AC tune-up{s.distinct}",
        "description": "Seasonal check: coils, refrigerant level, filters, thermostat.",
        "unitPrice": {"amount": 12900, "currency": "USD"},
        "durationMinutes": 90,
        "bookableOnline": True,
    },
    change={"unitPrice": {"amount": 15000, "currency": "USD"}, "taxable": False},
    invalid={"name": ""},
)


class ServiceOrder(Enum):
    """Orderings for services lists (values: the ``Sort`` each one applies)."""

    CREATED_AT_DESC = Sort("created_at_desc", Service.created_at, descending=True)  # type: ignore[arg-type]
    CREATED_AT_ASC = Sort("created_at_asc", Service.created_at, descending=False)  # type: ignore[arg-type]
    UPDATED_AT_DESC = Sort("updated_at_desc", Service.updated_at, descending=True)  # type: ignore[arg-type]
    NAME_ASC = Sort("name_asc", Service.name, descending=False)  # type: ignore[arg-type]


# The public field ``unit_price`` is stored in two columns; the audit names the public field.
_PRICE_COLUMNS = ("unit_price_amount", "currency")
_PUBLIC_FIELDS = dict.fromkeys(_PRICE_COLUMNS, "unit_price")


class ServiceFields(BaseModel):
    """The editable state of a service; create and update both validate the whole of it."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, non_blank(200)]
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    unit_price: MoneyFields
    duration_minutes: Annotated[int, Field(strict=True, ge=1, le=1440)]
    taxable: StrictBool = True
    bookable_online: StrictBool = False
    active: StrictBool = True

    def columns(self) -> dict[str, Any]:
        values = self.model_dump(exclude={"unit_price"})
        values["unit_price_amount"] = self.unit_price.amount
        values["currency"] = self.unit_price.currency
        return values


def _editable(row: Service) -> dict[str, Any]:
    values = {
        name: getattr(row, name) for name in ServiceFields.model_fields if name != "unit_price"
    }
    values["unit_price"] = {"amount": row.unit_price_amount, "currency": row.currency}
    return values


@dataclass(frozen=True)
class ServiceFilter:
    """Also the GraphQL ``ServiceFilter`` (``schema.inputs.filter_input``)."""

    active: bool | None = field(
        default=None,
        metadata={"description": "null (default): all; true: active only; false: inactive only."},
    )
    bookable_online: bool | None = field(
        default=None,
        metadata={"description": "null (default): all; otherwise only services with this flag."},
    )
    search: str | None = field(
        default=None,
        metadata={
            "description": "Words matched in the name or description, ignoring case; "
            "all must match."
        },
    )
    updated_since: datetime | None = field(
        default=None,
        metadata={"description": "Only services changed at or after this time (with offset)."},
    )


def _where(f: ServiceFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.active is not None:
        clauses.append(col(Service.active) == f.active)
    if f.bookable_online is not None:
        clauses.append(col(Service.bookable_online) == f.bookable_online)
    clauses += crud.matches_words(f.search, col(Service.name), col(Service.description))
    clauses += crud.updated_since(col(Service.updated_at), f.updated_since)
    return clauses


async def list_services(
    uow: UnitOfWork, *, filter: ServiceFilter, sort: ServiceOrder, first: int, after: str | None
) -> Page[Service]:
    return await crud.list_page(
        uow, SERVICES, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    """For a query: the row's columns, no ORM object."""
    return await crud.read(uow, SERVICES, public_id)


async def get(uow: UnitOfWork, public_id: str) -> Service:
    row: Service = await crud.get(uow, SERVICES, public_id)
    return row


async def create(uow: UnitOfWork, data: dict[str, Any], snapshot: Snapshot) -> Service:
    fields = validate(ServiceFields, data)
    row = Service(**fields.columns(), organization_id=0, environment="", public_id="")
    return await crud.create(uow, SERVICES, row, snapshot, fields=sorted(data))


async def update(
    uow: UnitOfWork, public_id: str, changes: dict[str, Any], snapshot: Snapshot
) -> Service:
    """``changes`` holds only the fields the caller sent; ``None`` clears a nullable field.

    The merged state is validated, so a change can never leave the row invalid as a whole.
    """
    row = await get(uow, public_id)
    columns = validate(ServiceFields, {**_editable(row), **changes}).columns()
    sent = [c for k in changes for c in (_PRICE_COLUMNS if k == "unit_price" else (k,))]
    return await crud.update(
        uow, SERVICES, row, {c: columns[c] for c in sent}, snapshot, public_fields=_PUBLIC_FIELDS
    )


async def delete_service(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> Service:
    row = await get(uow, public_id)
    return await crud.soft_delete(uow, SERVICES, row, snapshot)
