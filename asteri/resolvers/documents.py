"""Priced documents (estimates, invoices): what they share, written once.

A document belongs to a customer (and optionally one of that customer's appointments), has one
currency and a tax rate, and priced lines (``money.price``). A catalog line copies its
service's name, price and taxability at the time it is written; the stored lines and totals
are what every read shows. An update that sends ``lineItems`` replaces the lines (catalog
lines copied again from the catalog as it is now); one that does not keeps them as written,
priced again only for a new tax rate or currency, and their amounts follow without being
audited as changes of their own.
"""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from asteri.kit.errors import BadUserInput, FieldError
from asteri.models import Organization
from asteri.resolvers import crud, money
from asteri.resolvers.appointment import APPOINTMENTS
from asteri.resolvers.audit import record_system_change
from asteri.resolvers.crud import Resource, Snapshot
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.service import SERVICES
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import non_blank, validate

__all__ = [
    "PRICED",
    "DocumentFields",
    "priced_columns",
    "stored_lines",
    "sweep",
    "update_document",
]

# Columns that follow from the lines and the tax rate.
PRICED = ("line_items", "subtotal", "discount_total", "tax_total", "total")


class DocumentFields(BaseModel):
    """What every priced document's editable state has; each adds its own (a validity date,
    a due date). Create and update both validate the whole of it."""

    model_config = ConfigDict(extra="forbid")

    customer_id: Annotated[str, non_blank(40)]
    appointment_id: Annotated[str, non_blank(40)] | None = None
    currency: money.CurrencyCode
    tax_rate_bps: money.TaxRate = 0
    line_items: list[money.LineItemFields] = Field(min_length=1, max_length=100)
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None


def _refused(pointer: str, message: str, detail: str) -> BadUserInput:
    return BadUserInput(detail, errors=[FieldError(pointer, message)])


async def _references(uow: UnitOfWork, fields: DocumentFields) -> None:
    """Its customer and appointment are the caller's; the appointment is that customer's."""
    (customer,) = await crud.read_many(uow, CUSTOMERS, [fields.customer_id])
    if customer is None:
        raise _refused(
            "/input/customerId", "no such customer", f"No customer with id `{fields.customer_id}`."
        )
    if fields.appointment_id is None:
        return
    (appointment,) = await crud.read_many(uow, APPOINTMENTS, [fields.appointment_id])
    if appointment is None:
        raise _refused(
            "/input/appointmentId",
            "no such appointment",
            f"No appointment with id `{fields.appointment_id}`.",
        )
    if appointment.customer_id != fields.customer_id:
        raise _refused(
            "/input/appointmentId",
            "another customer's appointment",
            f"Appointment `{fields.appointment_id}` is not customer `{fields.customer_id}`'s.",
        )


async def _catalog_lines(uow: UnitOfWork, fields: DocumentFields) -> list[money.Line]:
    """The lines to price: a catalog line copies its service's name, price and taxability
    (unless the line says ``taxable`` itself), from an active service of the caller's."""
    wanted = [item.service_id for item in fields.line_items if item.service_id is not None]
    services = {
        row.public_id: row for row in await crud.read_many(uow, SERVICES, wanted) if row is not None
    }
    lines: list[money.Line] = []
    currencies: list[tuple[str, str]] = []
    for i, item in enumerate(fields.line_items):
        pointer = f"/input/lineItems/{i}"
        if item.service_id is None:
            assert item.description is not None  # LineItemFields: free text has both
            assert item.unit_price is not None
            description, unit_price = item.description, item.unit_price.amount
            taxable = item.taxable
            currencies.append((f"{pointer}/unitPrice/currency", item.unit_price.currency))
        else:
            service = services.get(item.service_id)
            if service is None or not service.active:
                missing = "no such service" if service is None else "inactive"
                raise _refused(
                    f"{pointer}/serviceId",
                    missing,
                    f"Service `{item.service_id}` is {missing.replace('no such', 'not a')}: "
                    "not offered.",
                )
            description, unit_price = service.name, service.unit_price_amount
            taxable = item.taxable if "taxable" in item.model_fields_set else service.taxable
            currencies.append((f"{pointer}/serviceId", service.currency))
        lines.append(
            money.Line(
                description=description,
                service_id=item.service_id,
                quantity=item.quantity,
                unit_price=unit_price,
                discount=item.discount,
                taxable=taxable,
            )
        )
    money.same_currency(currencies, fields.currency)
    return lines


def stored_lines(row: Any) -> list[money.Line]:
    """The lines as written: catalog lines keep the name and price they were copied with."""
    return [
        money.Line(
            description=line["description"],
            service_id=line["service_id"],
            quantity=Decimal(repr(line["quantity"])),
            unit_price=line["unit_price"]["amount"],
            discount=line["discount"]["amount"],
            taxable=line["taxable"],
        )
        for line in row.line_items
    ]


async def priced_columns(
    uow: UnitOfWork, fields: DocumentFields, lines: list[money.Line] | None = None
) -> dict[str, Any]:
    """The columns of a valid state: its references checked, its lines (``lines``, or those
    of ``fields`` resolved against the catalog) priced."""
    await _references(uow, fields)
    if lines is None:
        lines = await _catalog_lines(uow, fields)
    totals = money.price(lines, tax_rate_bps=fields.tax_rate_bps, currency=fields.currency)

    def amount(value: int) -> dict[str, Any]:
        return {"amount": value, "currency": fields.currency}

    return {
        **fields.model_dump(exclude={"line_items"}),
        "line_items": [
            {
                "service_id": priced.line.service_id,
                "description": priced.line.description,
                "quantity": float(priced.line.quantity),
                "unit_price": amount(priced.line.unit_price),
                "discount": amount(priced.line.discount),
                "taxable": priced.line.taxable,
                "subtotal": amount(priced.subtotal),
                "tax": amount(priced.tax),
                "total": amount(priced.total),
            }
            for priced in totals.lines
        ],
        "subtotal": totals.subtotal,
        "discount_total": totals.discount,
        "tax_total": totals.tax,
        "total": totals.total,
    }


def _editable(row: Any, model: type[DocumentFields]) -> dict[str, Any]:
    """The stored state as an input: catalog lines by service, free-text lines as written."""
    items = []
    for line in row.line_items:
        item: dict[str, Any] = {
            "quantity": line["quantity"],
            "discount": line["discount"]["amount"],
            "taxable": line["taxable"],
        }
        if line["service_id"] is not None:
            item["service_id"] = line["service_id"]
        else:
            item |= {"description": line["description"], "unit_price": line["unit_price"]}
        items.append(item)
    values = {name: getattr(row, name) for name in model.model_fields if name != "line_items"}
    return {**values, "line_items": items}


async def update_document(
    uow: UnitOfWork,
    resource: Resource,
    row: Any,
    changes: dict[str, Any],
    model: type[DocumentFields],
    snapshot: Snapshot,
) -> Any:
    """Apply ``changes`` to a document the caller may change, validated and priced whole."""
    fields = validate(model, {**_editable(row, model), **changes})
    relined = "line_items" in changes
    columns = await priced_columns(uow, fields, None if relined else stored_lines(row))
    derived = {k: columns.pop(k) for k in PRICED if not relined or k != "line_items"}
    return await crud.update(uow, resource, row, columns, snapshot, derived=derived)


_ORG = Organization.__table__.c  # type: ignore[attr-defined]


async def sweep(
    conn: AsyncConnection,
    resource: Resource,
    snapshot: Snapshot,
    *,
    due: list[ColumnElement[bool]],
    changes: dict[str, Any],
    verb: str,
    limit: int = 500,
) -> int:
    """A background chore's change to every row of ``resource`` that ``due`` selects, across
    tenants (an estimate past its day, an invoice past its due date): ``changes`` applied to
    each while it is still due, with its audit entry and ``<resource>.<verb>`` event by the
    system, in ``conn``'s transaction. Safe beside another runner doing the same: a row no
    longer due is left alone. Returns how many rows it changed (at most ``limit``)."""
    table = resource.model.__table__  # type: ignore[attr-defined]
    c = table.c
    found = (
        await conn.execute(
            select(c.id, c.public_id, c.organization_id, c.environment)
            .add_columns(_ORG.public_id.label("organization_public_id"))
            .join(Organization.__table__, _ORG.id == c.organization_id)  # type: ignore[attr-defined]
            .where(*due, c.deleted_at.is_(None))
            .order_by(c.id)
            .limit(limit)
        )
    ).all()
    changed = 0
    for row in found:
        done = await conn.execute(
            update(table)
            .where(c.id == row.id, *due)
            .values(**changes, version=c.version + 1)
            .returning(*c)
        )
        after = done.one_or_none()
        if after is None:  # no longer due: changed by someone else meanwhile
            continue
        changed += 1
        await record_system_change(
            conn,
            row,
            actor=resource.collection,
            resource_type=resource.name,
            verb=verb,
            resource_id=row.public_id,
            changed_fields=sorted(k for k in changes if k not in ("updated_at",)),
            payload=snapshot(after),
        )
    return changed
