"""Customers: identity, contact points, service addresses, tags, notes, archive and delete."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from sqlalchemy import delete, exists, insert
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.authz.tenancy import tenant_terms
from asteri.kit.pagination import Page
from asteri.models import Customer, CustomerTag
from asteri.resolvers import crud
from asteri.resolvers.crud import Resource, SampleContext, Snapshot, Sort
from asteri.resolvers.lifecycle import Lifecycle, Transition
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import EmailAddress, non_blank, refuse_nul, validate

__all__ = [
    "CUSTOMERS",
    "LIFECYCLE",
    "CustomerFilter",
    "CustomerOrder",
    "create",
    "delete_customer",
    "get",
    "list_customers",
    "update",
]

LIFECYCLE = Lifecycle(
    states=("active", "archived"),
    transitions=(
        Transition(
            "archive",
            sources=("active",),
            target="archived",
            event="archived",
            description="Archive a customer: kept, hidden by default.",
        ),
        Transition(
            "unarchive",
            sources=("archived",),
            target="active",
            event="unarchived",
            description="Bring an archived customer back.",
        ),
    ),
    state=lambda row: "active" if row.archived_at is None else "archived",
    columns=lambda entering: {"archived_at": entering.at if entering.state == "archived" else None},
    public_fields={"archived_at": "archived"},
)


def _sample(s: SampleContext) -> dict[str, Any]:
    distinct = s.distinct
    return {
        "displayName": f"Rivera Family{distinct}",
        "givenName": "Ana",
        "familyName": "Rivera",
        "emails": [
            {"address": f"ana.rivera{distinct}@example.com", "label": "home", "primary": True},
            {"address": f"office{distinct}@example.com"},
        ],
        "phones": [{"number": "+1 512 555 0101", "label": "mobile"}],
        "addresses": [
            {
                "line1": "1200 Barton Springs Rd",
                "city": "Austin",
                "region": "TX",
                "postalCode": "78704",
                "country": "US",
            }
        ],
        "tags": ["residential", "vip"],
        "notes": "Gate code 4410.",
    }


CUSTOMERS = Resource(
    model=Customer,
    name="customer",
    prefix="cus",
    lifecycle=LIFECYCLE,
    sample=_sample,
    change={"company": "Rivera Landscaping", "notes": None, "tags": ["commercial"]},
    invalid={"displayName": ""},
    parts=("activity",),
)


class CustomerOrder(Enum):
    """Orderings for customers lists (values: the ``Sort`` each one applies)."""

    CREATED_AT_DESC = Sort("created_at_desc", Customer.created_at, descending=True)  # type: ignore[arg-type]
    CREATED_AT_ASC = Sort("created_at_asc", Customer.created_at, descending=False)  # type: ignore[arg-type]
    UPDATED_AT_DESC = Sort("updated_at_desc", Customer.updated_at, descending=True)  # type: ignore[arg-type]
    DISPLAY_NAME_ASC = Sort("display_name_asc", Customer.display_name, descending=False)  # type: ignore[arg-type]


Text = Annotated[str, non_blank(200)]
ShortText = Annotated[str, non_blank(100)]
Label = Annotated[str, non_blank(40)]


def _stored(transform: Callable[[str], str]) -> AfterValidator:
    """Text that matched its pattern as sent (what the schemas declare), then stored stripped
    and transformed (lowercase tags, uppercase country codes)."""
    return AfterValidator(lambda v: transform(v.strip()))


Tag = Annotated[
    str,
    StringConstraints(pattern=r"^\s*[A-Za-z0-9][A-Za-z0-9_:.-]{0,63}\s*$"),
    _stored(str.lower),
]
Country = Annotated[str, StringConstraints(pattern=r"^\s*[A-Za-z]{2}\s*$"), _stored(str.upper)]
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{2,31}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmailIn(_Strict):
    address: EmailAddress
    label: Label | None = None
    primary: bool = False


class PhoneIn(_Strict):
    number: Annotated[str, StringConstraints(pattern=_PHONE.pattern)]  # stored as sent
    label: Label | None = None
    primary: bool = False


class AddressIn(_Strict):
    line1: Text
    line2: Text | None = None
    city: ShortText | None = None
    region: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = (
        None
    )
    country: Country | None = None
    label: Label | None = None
    primary: bool = False


# `_one_primary`'s rule, as JSON Schema states it (the REST schema declares it too).
_AT_MOST_ONE_PRIMARY: dict[str, Any] = {
    "json_schema_extra": {
        "contains": {"properties": {"primary": {"const": True}}, "required": ["primary"]},
        "minContains": 0,
        "maxContains": 1,
    }
}


def _one_primary(items: list[Any], what: str) -> list[Any]:
    """At most one primary; with none marked, the first becomes primary."""
    primaries = [i for i in items if i.primary]
    if len(primaries) > 1:
        raise ValueError(f"at most one of {what} may be primary")
    if items and not primaries:
        items[0].primary = True
    return items


class CustomerFields(_Strict):
    """The editable state of a customer; create and update both validate the whole of it."""

    display_name: Text
    given_name: ShortText | None = None
    family_name: ShortText | None = None
    company: Text | None = None
    emails: list[EmailIn] = Field(default_factory=list, max_length=20, **_AT_MOST_ONE_PRIMARY)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=20, **_AT_MOST_ONE_PRIMARY)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=20, **_AT_MOST_ONE_PRIMARY)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None

    @model_validator(mode="after")
    def _primaries(self) -> "CustomerFields":
        _one_primary(self.emails, "emails")
        _one_primary(self.phones, "phones")
        _one_primary(self.addresses, "addresses")
        self.tags = sorted(set(self.tags))
        return self

    def columns(self) -> dict[str, Any]:
        values = self.model_dump(mode="json")
        values["search_text"] = _search_text(self)
        return values


def _search_text(fields: CustomerFields) -> str:
    parts = [fields.display_name, fields.given_name, fields.family_name, fields.company]
    parts += [e.address for e in fields.emails] + [p.number for p in fields.phones]
    return " ".join(p for p in parts if p).lower()


def _editable(row: Customer) -> dict[str, Any]:
    return {name: getattr(row, name) for name in CustomerFields.model_fields}


@dataclass(frozen=True)
class CustomerFilter:
    """Also the GraphQL ``CustomerFilter`` (``schema.inputs.filter_input``)."""

    tag: str | None = None
    search: str | None = field(
        default=None,
        metadata={"description": "Words matched in names, company, emails and phones."},
    )
    updated_since: datetime | None = None
    archived: bool | None = field(
        default=False,
        metadata={"description": "false (default): active only; true: archived only; null: all."},
    )


def _where(f: CustomerFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.tag is not None:
        refuse_nul(f.tag, "/filter/tag")
        clauses.append(
            exists().where(
                *tenant_terms(CustomerTag),
                col(CustomerTag.customer_id) == col(Customer.id),
                col(CustomerTag.tag) == f.tag.strip().lower(),
            )
        )
    clauses += crud.matches_words(f.search, col(Customer.search_text))
    clauses += crud.updated_since(col(Customer.updated_at), f.updated_since)
    if f.archived is True:
        clauses.append(Customer.archived_at.is_not(None))  # type: ignore[union-attr]
    elif f.archived is False:
        clauses.append(Customer.archived_at.is_(None))  # type: ignore[union-attr]
    return clauses


async def list_customers(
    uow: UnitOfWork, *, filter: CustomerFilter, sort: CustomerOrder, first: int, after: str | None
) -> Page[Customer]:
    return await crud.list_page(
        uow, CUSTOMERS, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    """For a query: the row's columns, no ORM object."""
    return await crud.read(uow, CUSTOMERS, public_id)


async def get(uow: UnitOfWork, public_id: str) -> Customer:
    row: Customer = await crud.get(uow, CUSTOMERS, public_id)
    return row


async def _write_tags(uow: UnitOfWork, row: Customer) -> None:
    await uow.session.execute(delete(CustomerTag).where(CustomerTag.customer_id == row.id))  # type: ignore[arg-type]
    if row.tags:
        await uow.session.execute(
            insert(CustomerTag),
            [
                {
                    "customer_id": row.id,
                    "tag": tag,
                    "organization_id": row.organization_id,
                    "environment": row.environment,
                }
                for tag in row.tags
            ],
        )


async def create(uow: UnitOfWork, data: dict[str, Any], snapshot: Snapshot) -> Customer:
    fields = validate(CustomerFields, data)
    row = Customer(**fields.columns(), organization_id=0, environment="", public_id="")
    row = await crud.create(uow, CUSTOMERS, row, snapshot, fields=sorted(data))
    await _write_tags(uow, row)
    return row


async def update(
    uow: UnitOfWork, public_id: str, changes: dict[str, Any], snapshot: Snapshot
) -> Customer:
    """``changes`` holds only the fields the caller sent; ``None`` clears a nullable field."""
    row = await get(uow, public_id)
    fields = validate(CustomerFields, {**_editable(row), **changes})
    columns = fields.columns()
    tags_before = list(row.tags)
    row = await crud.update(
        uow,
        CUSTOMERS,
        row,
        {k: columns[k] for k in changes},
        snapshot,
        derived={"search_text": columns["search_text"]},
    )
    if row.tags != tags_before:
        await _write_tags(uow, row)
    return row


async def delete_customer(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> Customer:
    row = await get(uow, public_id)
    return await crud.soft_delete(uow, CUSTOMERS, row, snapshot)
