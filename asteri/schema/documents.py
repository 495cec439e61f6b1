"""What the priced documents' types share (estimates, invoices): their lines, the input of a
line, and their amounts as ``Money``."""

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry import UNSET

from asteri.schema.money import Money, MoneyInput
from asteri.schema.scalars import SafeInt

__all__ = ["LineItem", "LineItemInput", "money_column"]


@strawberry.type(
    description="One priced line: a catalog service as it was priced when written, or free "
    "text. `subtotal` is quantity times unit price, rounded half-even to the minor unit; "
    "`total` is `subtotal - discount + tax`."
)
class LineItem:
    service_id: strawberry.ID | None = strawberry.field(
        description="The catalog service it was copied from; null for a free-text line."
    )
    description: str
    quantity: float = strawberry.field(description="Greater than 0, at most 3 decimals.")
    unit_price: Money
    discount: Money = strawberry.field(description="Off the line's subtotal.")
    taxable: bool
    subtotal: Money
    tax: Money = strawberry.field(
        description="The net amount times the document's tax rate, rounded half-even; 0 if "
        "not taxable."
    )
    total: Money


@strawberry.input(
    description="A line: a catalog service by `serviceId` (its name, price and taxability "
    "copied as they are now), or free text with a `description` and a `unitPrice`."
)
class LineItemInput:
    service_id: strawberry.ID | None = UNSET
    description: str | None = UNSET
    quantity: float = 1
    unit_price: MoneyInput | None = UNSET
    discount: SafeInt = strawberry.field(
        default=SafeInt(0), description="Minor units off the line's subtotal."
    )
    taxable: bool | None = strawberry.field(
        default=UNSET, description="Default: the service's, or true for free text."
    )


def money_column(column: str) -> Callable[[Any], Money]:
    """A ``RowMap`` source: the amount in ``column``, in the document's currency."""
    return lambda row: Money.of(getattr(row, column), row.currency)
