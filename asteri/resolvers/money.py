"""Money, in one module: amounts, currencies and their exponents, line items and their pricing.

An amount is an integer of minor units plus an ISO 4217 currency: ``{12900, "USD"}`` is
$129.00, ``{1200, "JPY"}`` is ¥1200 and ``{1234, "KWD"}`` is 1.234 dinars. The exponent (how many
decimal places a minor unit is) is ISO 4217's, read from babel's CLDR data (``exponent``) and
corrected where CLDR and ISO part ways (``_ISO_MINOR_UNITS``).

The currency list is kept here rather than taken from a dependency: it is short, changes a few
times a year (ISO 4217 amendments), and is a product decision as much as a standard — we accept
the codes a business can bill in and refuse funds (``USN``), metals (``XAU``), SDR and test codes.
Review it when ISO publishes an amendment; removing a code makes stored prices in it fail the
next update's validation, so retire codes deliberately.

Rounding. Every amount is rounded once, where it arises, to a whole minor unit, with ties going
to the even neighbour (banker's rounding: 0.5 → 0, 1.5 → 2, 2.5 → 2), so that over many lines the
ties cancel instead of drifting up. Per line, in this order:

- ``subtotal = quantity * unit_price``, rounded;
- ``net = subtotal - discount`` (whole minor units already; more than the subtotal is refused);
- ``tax = net * rate / 10_000`` (the rate is in basis points), rounded; 0 on an untaxable line;
- ``total = net + tax``.

A document's subtotal, discount, tax and total are the sums of its lines' and are never rounded
again, so ``subtotal - discount + tax == total`` holds exactly on every line and the document.
The arithmetic is ``Decimal``, never ``float``. No amount here is ever negative: a negative
amount will only ever mean a credit, and credits are not priced here.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from functools import cache
from typing import Annotated, Any

from babel.numbers import get_currency_precision, list_currencies
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from asteri.kit.errors import BadUserInput, FieldError
from asteri.resolvers.validation import non_blank

__all__ = [
    "CURRENCIES",
    "MAX_DOCUMENT_TOTAL",
    "MAX_PRICE",
    "MAX_QUANTITY",
    "CurrencyCode",
    "Line",
    "LineItemFields",
    "MoneyFields",
    "PricedLine",
    "Quantity",
    "TaxRate",
    "Totals",
    "exponent",
    "format_amount",
    "price",
    "same_currency",
]

MAX_PRICE = 10**12  # minor units: USD 10 billion; far below SafeInt's 2^53 - 1
MAX_DOCUMENT_TOTAL = 10**15  # minor units, a document's subtotal and total; below 2^53 - 1 too
MAX_QUANTITY = 1_000_000

# Active ISO 4217 currency codes as of 2026 (list one), less funds, metals, SDR and test codes.
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR
    MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR
    SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)
_CODE = re.compile(r"^[A-Z]{3}$")

# Where CLDR's digits differ from ISO 4217's minor units, ISO wins. CLDR's ``digits`` say how
# many decimals people usually write (0 for the Iranian rial or the Lebanese pound, whose minor
# units no longer circulate); ISO's minor unit says what one unit of an ``amount`` is, which is
# what payment processors and bank files exchange, so an amount read with CLDR's digits would
# be off by a factor of 100 (1000 for the Iraqi dinar) there. These are all the accepted codes
# where babel 2.18 (CLDR 47) disagrees; none is invented. tests/test_money.py fails when babel
# comes to agree on one (the entry is then dead weight: drop it). CLDR's cash digits (HUF, TWD,
# IDR… pay cash in whole units) are a matter for tills, not for amounts.
_ISO_MINOR_UNITS = {
    "AFN": 2,
    "ALL": 2,
    "IQD": 3,
    "IRR": 2,
    "KPW": 2,
    "LAK": 2,
    "LBP": 2,
    "MGA": 2,
    "MMK": 2,
    "RSD": 2,
    "SOS": 2,
    "SYP": 2,
    "YER": 2,
}


def _currency(code: str) -> str:
    if not _CODE.fullmatch(code):
        raise ValueError("must be an ISO 4217 code of three uppercase letters, e.g. `USD`")
    if code not in CURRENCIES:
        raise ValueError(f"`{code}` is not a currency we accept (active ISO 4217 codes only)")
    return code


@cache
def exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit is: JPY 0, USD 2, KWD 3. A code we do
    not accept, or one babel does not know, is a ``ValueError``: babel would answer 2 for any
    string at all, and a guessed exponent is a price off by a power of ten."""
    _currency(currency)
    if currency not in list_currencies():
        raise ValueError(f"babel has no data for `{currency}`")
    return _ISO_MINOR_UNITS.get(currency, get_currency_precision(currency))


def format_amount(amount: int, currency: str) -> str:
    """The amount as a plain decimal in major units, without symbol or grouping: ``129.00``
    for 12900 USD, ``1200`` for 1200 JPY, ``1.234`` for 1234 KWD. For docs and demos, not
    for display to customers (that is the locale's business)."""
    places = exponent(currency)
    sign = "-" if amount < 0 else ""
    if places == 0:
        return f"{sign}{abs(amount)}"
    major, minor = divmod(abs(amount), 10**places)
    return f"{sign}{major}.{minor:0{places}d}"


# The pattern is also the schemas' (a lowercase code is refused before the list is read).
# The list is declared too (an enum in the REST schema): a well-formed code we do not accept is
# refused by the same rule the schemas state.
CurrencyCode = Annotated[
    str,
    Field(strict=True, pattern=_CODE.pattern, json_schema_extra={"enum": sorted(CURRENCIES)}),
    AfterValidator(_currency),
]

MinorUnits = Annotated[int, Field(strict=True, ge=0, le=MAX_PRICE)]


class MoneyFields(BaseModel):
    """A price: 0 to ``MAX_PRICE`` minor units. Strict ints, so ``true`` or ``1.5`` never pass."""

    model_config = ConfigDict(extra="forbid")

    amount: MinorUnits
    currency: CurrencyCode


def _number(value: Any) -> Any:
    """A quantity is a JSON number. Every quantity we accept (at most 10 significant digits)
    survives a float exactly, and ``repr`` gives back the digits as written, so 1.1 is
    ``Decimal("1.1")``, never the float's binary expansion. Strings and booleans are refused,
    so the schemas can say one type."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number, e.g. 1, 1.5 or 0.25")
    return Decimal(repr(value)) if isinstance(value, float) else value


class _NumberOnly:
    """The schemas show the number branch of pydantic's Decimal schema: ``_number`` refuses
    the string one."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        branches: list[JsonSchemaValue] = schema.get("anyOf", [schema])
        return next(b for b in branches if b.get("type") == "number")


# The constraints come first, so that pydantic puts them in the Decimal schema the schemas show.
Quantity = Annotated[
    Decimal,
    Field(gt=0, le=MAX_QUANTITY, decimal_places=3),
    BeforeValidator(_number),
    _NumberOnly,
]

# Basis points: 825 is 8.25 %, 10 000 is 100 %.
TaxRate = Annotated[int, Field(strict=True, ge=0, le=10_000)]


class LineItemFields(BaseModel):
    """One line of an estimate or invoice as the caller sends it: a catalog service by
    ``service_id`` (whose name and price the caller copies from the catalog, as they are that
    day) or free text with its own ``description`` and ``unit_price``, never a mix of both."""

    model_config = ConfigDict(extra="forbid")

    service_id: Annotated[str, non_blank(40)] | None = None
    # Defaults are validated too, so a missing field is reported under its own name.
    description: Annotated[str, non_blank(500)] | None = Field(None, validate_default=True)
    quantity: Quantity = Field(1, validate_default=True)
    unit_price: MoneyFields | None = Field(None, validate_default=True)
    discount: MinorUnits = 0  # minor units off the line's subtotal
    taxable: StrictBool = True

    @field_validator("description", "unit_price")
    @classmethod
    def _catalog_or_free_text(cls, value: Any, info: ValidationInfo) -> Any:
        if "service_id" not in info.data:  # service_id itself is invalid: reported already
            return value
        if info.data["service_id"] is not None and value is not None:
            raise ValueError("must be absent with `serviceId`: it is copied from the catalog")
        if info.data["service_id"] is None and value is None:
            raise ValueError("is required on a line without `serviceId`")
        return value


@dataclass(frozen=True)
class Line:
    """A line ready to price: the catalog's name and price already copied in."""

    description: str
    service_id: str | None
    quantity: Decimal
    unit_price: int
    discount: int
    taxable: bool

    def __post_init__(self) -> None:
        # Validated input never trips these; a caller that builds a line by hand might.
        if not (self.quantity > 0 and self.unit_price >= 0 and self.discount >= 0):
            raise ValueError(f"a line's quantity must be positive and its amounts not: {self}")


@dataclass(frozen=True)
class PricedLine:
    """A line with its amounts in minor units: ``subtotal - line.discount + tax == total``."""

    line: Line
    subtotal: int
    tax: int
    total: int


@dataclass(frozen=True)
class Totals:
    """A document's lines, priced, and their sums in minor units."""

    lines: tuple[PricedLine, ...]
    subtotal: int
    discount: int
    tax: int
    total: int


# Wide enough that no product is ever rounded before ``_round`` does it (a subtotal has at most
# 23 significant digits); an invalid operation raises rather than yielding NaN.
_CONTEXT = Context(
    prec=40, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_BPS = Decimal(10_000)


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN, context=_CONTEXT))


def price(lines: Sequence[Line], *, tax_rate_bps: int, currency: str) -> Totals:
    """Price the lines by the rule in this module's docstring. A discount above its line's
    subtotal, or a document subtotal or total above ``MAX_DOCUMENT_TOTAL``, is a 422 naming
    ``/input/lineItems…``; every line is checked, so one answer names every bad discount."""
    if not 0 <= tax_rate_bps <= 10_000:
        raise ValueError(f"tax_rate_bps must be 0 to 10000, not {tax_rate_bps}")
    exponent(currency)  # a currency we do not accept is the caller's bug: fail before pricing
    rate = Decimal(tax_rate_bps)
    priced: list[PricedLine] = []
    errors: list[FieldError] = []
    for i, line in enumerate(lines):
        subtotal = _round(_CONTEXT.multiply(line.quantity, Decimal(line.unit_price)))
        net = subtotal - line.discount
        if net < 0:
            errors.append(
                FieldError(
                    f"/input/lineItems/{i}/discount",
                    f"{format_amount(line.discount, currency)} {currency} is more than the "
                    f"line's subtotal, {format_amount(subtotal, currency)} {currency}",
                )
            )
            continue
        tax = (
            _round(_CONTEXT.divide(_CONTEXT.multiply(Decimal(net), rate), _BPS))
            if line.taxable
            else 0
        )
        priced.append(PricedLine(line=line, subtotal=subtotal, tax=tax, total=net + tax))
    if errors:
        raise BadUserInput("A discount may not exceed its line's subtotal.", errors=errors)
    totals = Totals(
        lines=tuple(priced),
        subtotal=sum(p.subtotal for p in priced),
        discount=sum(p.line.discount for p in priced),
        tax=sum(p.tax for p in priced),
        total=sum(p.total for p in priced),
    )
    # The subtotal can exceed the total (discounts), never the reverse by more than the tax;
    # bounding both bounds every amount of the document.
    if max(totals.subtotal, totals.total) > MAX_DOCUMENT_TOTAL:
        limit = f"{format_amount(MAX_DOCUMENT_TOTAL, currency)} {currency}"
        raise BadUserInput(
            f"A document's subtotal and total may not exceed {limit}.",
            errors=[FieldError("/input/lineItems", f"the document comes to more than {limit}")],
        )
    return totals


def same_currency(currencies: Iterable[tuple[str, str]], currency: str) -> None:
    """One currency per document: each ``(pointer, code)`` whose code is not ``currency``
    (a line's price, a payment) is named in a single 422."""
    errors = [
        FieldError(pointer, f"is `{code}`, but the document is in `{currency}`")
        for pointer, code in currencies
        if code != currency
    ]
    if errors:
        raise BadUserInput(
            f"A document has one currency, `{currency}`; `errors` names each other one.",
            errors=errors,
        )
