"""Money: exponents, quantities, line items and the pricing rule, against an exact oracle.

The oracle prices with ``fractions.Fraction`` and Python's ``round``, which rounds a tie to the
even neighbour: independent of the module's ``Decimal`` code, so agreement means something.
"""

import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from babel.numbers import get_currency_precision, list_currencies
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from asteri.kit.errors import BadUserInput
from asteri.resolvers import money
from asteri.resolvers.money import (
    CURRENCIES,
    MAX_DOCUMENT_TOTAL,
    MAX_PRICE,
    Line,
    LineItemFields,
    Quantity,
    TaxRate,
    exponent,
    format_amount,
    price,
    same_currency,
)
from asteri.resolvers.validation import validate

PROPERTY = settings(max_examples=300, deadline=None)
QUANTITY = TypeAdapter(Quantity)

quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10_000), places=3)
unit_prices = st.integers(min_value=0, max_value=10**9)
rates = st.integers(min_value=0, max_value=10_000)


def _line(
    quantity: Decimal | str | int = 1,
    unit_price: int = 100,
    discount: int = 0,
    taxable: bool = True,
) -> Line:
    return Line(
        description="Labour",
        service_id=None,
        quantity=Decimal(quantity),
        unit_price=unit_price,
        discount=discount,
        taxable=taxable,
    )


def _exact_subtotal(line: Line) -> int:
    return round(Fraction(line.quantity) * line.unit_price)


@st.composite
def lines(draw: st.DrawFn, taxable: bool | None = None) -> Line:
    """A valid line: its discount is at most its subtotal, worked out by the oracle."""
    line = _line(draw(quantities), draw(unit_prices))
    discount = draw(st.integers(min_value=0, max_value=_exact_subtotal(line)))
    is_taxable = draw(st.booleans()) if taxable is None else taxable
    return _line(line.quantity, line.unit_price, discount, is_taxable)


documents = st.lists(lines(), max_size=12)


def _pointers(exc: pytest.ExceptionInfo[BadUserInput]) -> list[str]:
    return [e.pointer for e in exc.value.errors]


# --- pricing: properties --------------------------------------------------------------------


@PROPERTY
@given(documents, rates)
def test_each_line_is_priced_exactly_by_the_rule(items: list[Line], rate: int) -> None:
    totals = price(items, tax_rate_bps=rate, currency="USD")
    assert [p.line for p in totals.lines] == items
    for priced in totals.lines:
        net = _exact_subtotal(priced.line) - priced.line.discount
        assert priced.subtotal == _exact_subtotal(priced.line)
        assert priced.tax == (round(Fraction(net * rate, 10_000)) if priced.line.taxable else 0)
        assert priced.total == priced.subtotal - priced.line.discount + priced.tax


@PROPERTY
@given(documents, rates)
def test_the_document_is_the_sum_of_its_lines(items: list[Line], rate: int) -> None:
    totals = price(items, tax_rate_bps=rate, currency="EUR")
    assert totals.subtotal == sum(p.subtotal for p in totals.lines)
    assert totals.discount == sum(p.line.discount for p in totals.lines)
    assert totals.tax == sum(p.tax for p in totals.lines)
    assert totals.total == sum(p.total for p in totals.lines)
    assert totals.total == totals.subtotal - totals.discount + totals.tax


@PROPERTY
@given(documents, rates)
def test_no_amount_is_ever_negative(items: list[Line], rate: int) -> None:
    totals = price(items, tax_rate_bps=rate, currency="KWD")
    amounts = [totals.subtotal, totals.discount, totals.tax, totals.total]
    for p in totals.lines:
        amounts += [p.subtotal, p.tax, p.total, p.subtotal - p.line.discount]
    assert min(amounts, default=0) >= 0
    # Tax never exceeds the taxed amount (the rate is at most 100 %).
    assert all(p.tax <= p.subtotal - p.line.discount for p in totals.lines)


@PROPERTY
@given(documents)
def test_a_zero_rate_taxes_nothing(items: list[Line]) -> None:
    totals = price(items, tax_rate_bps=0, currency="USD")
    assert totals.tax == 0
    assert totals.total == totals.subtotal - totals.discount


@PROPERTY
@given(st.lists(lines(taxable=False), min_size=1, max_size=8), rates)
def test_untaxable_lines_carry_no_tax(items: list[Line], rate: int) -> None:
    totals = price(items, tax_rate_bps=rate, currency="USD")
    assert [p.tax for p in totals.lines] == [0] * len(items)
    assert totals.total == totals.subtotal - totals.discount


@PROPERTY
@given(st.lists(lines(), min_size=1, max_size=8), st.integers(min_value=1, max_value=10**6))
def test_a_discount_above_the_subtotal_names_its_line(items: list[Line], excess: int) -> None:
    """Every over-discounted line is named, and only those."""
    bad = set(range(0, len(items), 2))
    sent = [
        _line(x.quantity, x.unit_price, _exact_subtotal(x) + excess, x.taxable) if i in bad else x
        for i, x in enumerate(items)
    ]
    with pytest.raises(BadUserInput) as exc:
        price(sent, tax_rate_bps=825, currency="USD")
    assert exc.value.status == 422
    assert _pointers(exc) == [f"/input/lineItems/{i}/discount" for i in sorted(bad)]


# --- pricing: examples ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit_price", "subtotal"),
    [
        ("0.5", 1, 0),  # a tie rounds to the even neighbour: 0
        ("1.5", 1, 2),
        ("2.5", 1, 2),
        ("3.5", 1, 4),
        ("0.501", 1, 1),  # not a tie
        ("0.25", 2, 0),  # 0.5 again, from another product
        ("0.75", 2, 2),  # 1.5
        ("1.333", 300, 400),  # 399.9
        ("2", 12900, 25800),
    ],
)
def test_subtotal_rounds_half_even(quantity: str, unit_price: int, subtotal: int) -> None:
    [line] = price([_line(quantity, unit_price)], tax_rate_bps=0, currency="USD").lines
    assert line.subtotal == subtotal


@pytest.mark.parametrize(
    ("net", "rate", "tax"),
    [
        (50, 100, 0),  # 0.5 → 0
        (150, 100, 2),  # 1.5 → 2
        (250, 100, 2),  # 2.5 → 2
        (10_000, 825, 825),
        (1999, 825, 165),  # 164.9175
        (200, 25, 0),  # 0.5 → 0
        (600, 25, 2),  # 1.5 → 2
        (12_345, 10_000, 12_345),  # 100 %
    ],
)
def test_tax_rounds_half_even(net: int, rate: int, tax: int) -> None:
    [line] = price([_line(1, net)], tax_rate_bps=rate, currency="USD").lines
    assert (line.tax, line.total) == (tax, net + tax)


def test_tax_is_on_the_discounted_line() -> None:
    totals = price(
        [_line(2, 5000, discount=1000), _line(1, 3000, taxable=False)],
        tax_rate_bps=1000,
        currency="USD",
    )
    assert [(p.subtotal, p.tax, p.total) for p in totals.lines] == [
        (10_000, 900, 9900),
        (3000, 0, 3000),
    ]
    assert (totals.subtotal, totals.discount, totals.tax, totals.total) == (
        13_000,
        1000,
        900,
        12_900,
    )


def test_a_discount_equal_to_the_subtotal_is_free() -> None:
    [line] = price([_line("1.5", 3, discount=4)], tax_rate_bps=825, currency="USD").lines
    assert (line.subtotal, line.tax, line.total) == (4, 0, 0)


def test_a_discount_over_the_subtotal_is_a_422_with_the_pointer() -> None:
    with pytest.raises(BadUserInput) as exc:
        price([_line(1, 500), _line("0.5", 1, discount=1)], tax_rate_bps=0, currency="USD")
    assert _pointers(exc) == ["/input/lineItems/1/discount"]
    assert exc.value.extensions()["errors"][0]["detail"] == (
        "0.01 USD is more than the line's subtotal, 0.00 USD"
    )


def test_an_empty_document_is_zero() -> None:
    totals = price([], tax_rate_bps=825, currency="JPY")
    assert (totals.lines, totals.subtotal, totals.discount, totals.tax, totals.total) == (
        (),
        0,
        0,
        0,
        0,
    )


def test_large_products_are_exact() -> None:
    """No product is rounded early: a large quantity times a large price, to the unit; the
    largest of each is a 422, not an overflow."""
    [line] = price([_line("999.999", MAX_PRICE - 1)], tax_rate_bps=0, currency="USD").lines
    assert line.subtotal == round(Fraction("999.999") * (MAX_PRICE - 1))
    with pytest.raises(BadUserInput):
        price([_line(money.MAX_QUANTITY, MAX_PRICE)], tax_rate_bps=10_000, currency="USD")


def test_a_document_above_the_maximum_is_a_422() -> None:
    at_limit = _line(1000, MAX_PRICE)  # exactly MAX_DOCUMENT_TOTAL
    assert price([at_limit], tax_rate_bps=0, currency="USD").total == MAX_DOCUMENT_TOTAL
    with pytest.raises(BadUserInput) as exc:
        price([at_limit], tax_rate_bps=1, currency="USD")  # the tax takes it over
    assert _pointers(exc) == ["/input/lineItems"]
    # Discounted to nothing, the subtotal still counts: every amount stays below the bound.
    free = _line(1000, MAX_PRICE, discount=MAX_PRICE)
    with pytest.raises(BadUserInput):
        price([free, _line(1, 1)], tax_rate_bps=0, currency="USD")


def test_a_line_cannot_be_built_negative() -> None:
    for bad in (
        {"quantity": 0},
        {"quantity": "-1"},
        {"unit_price": -1},
        {"discount": -1},
    ):
        with pytest.raises(ValueError, match="positive"):
            _line(**bad)


@pytest.mark.parametrize("rate", [-1, 10_001])
def test_price_refuses_a_rate_out_of_range(rate: int) -> None:
    with pytest.raises(ValueError, match="tax_rate_bps"):
        price([_line()], tax_rate_bps=rate, currency="USD")


def test_price_refuses_a_currency_we_do_not_accept() -> None:
    with pytest.raises(ValueError, match="XAU"):
        price([_line()], tax_rate_bps=0, currency="XAU")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (825, True),
        (0, True),
        (10_000, True),
        (10_001, False),
        (-1, False),
        (8.25, False),
        (True, False),
        ("825", False),
    ],
)
def test_tax_rate_is_basis_points(value: Any, ok: bool) -> None:
    adapter = TypeAdapter(TaxRate)
    if ok:
        assert adapter.validate_python(value) == value
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


# --- one currency per document --------------------------------------------------------------


def test_mixed_currencies_are_a_422_naming_each_stranger() -> None:
    pairs = [
        ("/input/lineItems/0/unitPrice/currency", "USD"),
        ("/input/lineItems/1/unitPrice/currency", "EUR"),
        ("/input/lineItems/2/unitPrice/currency", "USD"),
        ("/input/lineItems/3/unitPrice/currency", "JPY"),
    ]
    with pytest.raises(BadUserInput) as exc:
        same_currency(pairs, "USD")
    assert exc.value.status == 422
    assert _pointers(exc) == [
        "/input/lineItems/1/unitPrice/currency",
        "/input/lineItems/3/unitPrice/currency",
    ]
    assert "`EUR`" in exc.value.errors[0].message


def test_one_currency_passes() -> None:
    same_currency([("/input/a", "KWD"), ("/input/b", "KWD")], "KWD")
    same_currency([], "KWD")


# --- exponents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "places"),
    [
        ("JPY", 0),
        ("USD", 2),
        ("KWD", 3),
        ("BHD", 3),
        ("EUR", 2),
        ("KRW", 0),
        ("VND", 0),
        ("CLP", 0),
        ("ISK", 0),
        ("HUF", 2),
        ("TWD", 2),
        ("IDR", 2),
        ("IQD", 3),
        ("LBP", 2),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("LYD", 3),
    ],
)
def test_exponent_examples(code: str, places: int) -> None:
    assert exponent(code) == places


@pytest.mark.parametrize("code", sorted(CURRENCIES))
def test_every_accepted_currency_has_babel_data_and_an_exponent(code: str) -> None:
    assert code in list_currencies()
    assert exponent(code) in range(5)


def test_iso_overrides_are_still_needed() -> None:
    """An override babel has come to agree with is dead weight; one for a code we do not
    accept is a typo."""
    overrides = money._ISO_MINOR_UNITS
    assert set(overrides) <= CURRENCIES
    assert {
        c: get_currency_precision(c) for c in overrides if get_currency_precision(c) == overrides[c]
    } == {}


@pytest.mark.parametrize("code", ["XAU", "usd", "ZZZ", "USN", ""])
def test_exponent_refuses_codes_we_do_not_accept(code: str) -> None:
    with pytest.raises(ValueError, match=r"currency|ISO 4217"):
        exponent(code)


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [
        (12900, "USD", "129.00"),
        (5, "USD", "0.05"),
        (0, "EUR", "0.00"),
        (1200, "JPY", "1200"),
        (1234, "KWD", "1.234"),
        (7, "BHD", "0.007"),
        (-150, "USD", "-1.50"),
        (MAX_PRICE, "USD", "10000000000.00"),
    ],
)
def test_format_amount(amount: int, code: str, text: str) -> None:
    assert format_amount(amount, code) == text


# --- quantities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (1, "1"),
        (1.5, "1.5"),
        (0.25, "0.25"),
        (1.1, "1.1"),
        (0.001, "0.001"),
        (2.675, "2.675"),
        (1_000_000, "1000000"),
        (Decimal("3.140"), "3.140"),
    ],
)
def test_quantity_is_exact_as_written(sent: Any, expected: str) -> None:
    parsed = QUANTITY.validate_python(sent)
    assert isinstance(parsed, Decimal)
    assert str(parsed) == expected


def test_quantity_from_json_is_exact() -> None:
    body = (
        '{"description": "Labour", "unit_price": {"amount": 1, "currency": "USD"}, "quantity": 1.1}'
    )
    assert LineItemFields.model_validate_json(body).quantity.as_tuple() == Decimal("1.1").as_tuple()
    assert str(QUANTITY.validate_json("1.1")) == "1.1"
    with pytest.raises(ValidationError):
        QUANTITY.validate_json('"1.1"')


@PROPERTY
@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1_000_000), places=3))
def test_every_valid_quantity_survives_a_json_number(quantity: Decimal) -> None:
    sent = json.loads(json.dumps(float(quantity)))
    assert QUANTITY.validate_python(sent) == quantity


@pytest.mark.parametrize(
    "sent",
    [
        0,
        0.0,
        -1,
        -0.5,
        1.0001,
        0.0005,
        True,
        False,
        1e7,
        1_000_000.001,
        "1.5",
        None,
        float("nan"),
        float("inf"),
    ],
)
def test_quantity_refusals(sent: Any) -> None:
    with pytest.raises(ValidationError):
        QUANTITY.validate_python(sent)


def test_quantity_schema_is_a_number() -> None:
    schema = LineItemFields.model_json_schema()["properties"]["quantity"]
    assert schema["type"] == "number"
    assert (schema["exclusiveMinimum"], schema["maximum"], schema["default"]) == (0, 1_000_000, 1)


# --- line items -----------------------------------------------------------------------------

PRICE = {"amount": 12900, "currency": "USD"}


def _errors(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(BadUserInput) as exc:
        validate(LineItemFields, data)
    return {e.pointer: e.message for e in exc.value.errors}


def test_a_catalog_line() -> None:
    item = validate(LineItemFields, {"service_id": "svc_1", "quantity": 2})
    assert (item.service_id, item.description, item.unit_price) == ("svc_1", None, None)
    assert (item.quantity, item.discount, item.taxable) == (Decimal(2), 0, True)


def test_a_free_text_line() -> None:
    item = validate(
        LineItemFields,
        {"description": "  Parts  ", "unit_price": PRICE, "discount": 100, "taxable": False},
    )
    assert item.description == "Parts"
    assert item.unit_price is not None
    assert (item.unit_price.amount, item.unit_price.currency) == (12900, "USD")
    assert (item.quantity, item.discount, item.taxable) == (Decimal(1), 100, False)


def test_a_catalog_line_takes_no_description_or_price() -> None:
    errors = _errors({"service_id": "svc_1", "description": "Mine", "unit_price": PRICE})
    assert set(errors) == {"/input/description", "/input/unitPrice"}
    assert all("serviceId" in m for m in errors.values())


def test_a_free_text_line_needs_both() -> None:
    assert set(_errors({})) == {"/input/description", "/input/unitPrice"}
    assert set(_errors({"description": "Parts"})) == {"/input/unitPrice"}
    assert set(_errors({"unit_price": PRICE})) == {"/input/description"}


@pytest.mark.parametrize(
    ("field", "value", "pointer"),
    [
        ("discount", 1.5, "/input/discount"),
        ("discount", True, "/input/discount"),
        ("discount", -1, "/input/discount"),
        ("discount", MAX_PRICE + 1, "/input/discount"),
        ("taxable", "yes", "/input/taxable"),
        ("taxable", 1, "/input/taxable"),
        ("quantity", 0, "/input/quantity"),
        ("quantity", 1.2345, "/input/quantity"),
        ("description", "   ", "/input/description"),
        ("description", "x" * 501, "/input/description"),
        ("unit_price", {"amount": 1, "currency": "XAU"}, "/input/unitPrice/currency"),
        ("unit_price", {"amount": -1, "currency": "USD"}, "/input/unitPrice/amount"),
        ("colour", "red", "/input/colour"),
    ],
)
def test_line_item_refusals(field: str, value: Any, pointer: str) -> None:
    data = {"description": "Parts", "unit_price": PRICE, field: value}
    assert pointer in _errors(data)


def test_an_invalid_service_id_is_reported_once() -> None:
    """The catalog-or-free-text rule does not pile on when ``serviceId`` itself is bad."""
    assert set(_errors({"service_id": " "})) == {"/input/serviceId"}
