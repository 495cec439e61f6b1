"""How a public type is read from a stored row, declared once as data.

``RowMap(Customer, id="public_id", archived=lambda row: ..., emails=EmailAddress)`` says, per
field: the column it comes from (default: the column of the same name), a function of the row,
or a value-object type for a JSON column (a dict, or a list of dicts, each one value object).
The same declaration serves two readers:

- ``build(row)``: the DTO instance, for GraphQL execution and mutation results;
- the compiled reads (``schema/compiled.py``), which project a persisted query's selection
  straight from the rows (``getter``), without building the DTOs at all: inside
  ``rows_only()``, ``build`` hands back the row itself, so the unchanged resolvers (same
  tenant filter, same arguments) return rows where the projection expects them.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from operator import attrgetter
from typing import Any, Generic, TypeVar

from strawberry.types.base import StrawberryOptional, has_object_definition

__all__ = ["RowMap", "Source", "row_map_of", "rows_only"]

T = TypeVar("T")
Source = str | Callable[[Any], Any] | type

_ROWS_ONLY: ContextVar[bool] = ContextVar("asteri_rows_only", default=False)
_MAPS: dict[type, "RowMap[Any]"] = {}


@contextmanager
def rows_only() -> Iterator[None]:
    """Within: every ``RowMap.build`` returns its row unconverted (compiled reads only)."""
    token = _ROWS_ONLY.set(True)
    try:
        yield
    finally:
        _ROWS_ONLY.reset(token)


def row_map_of(dto: type) -> "RowMap[Any] | None":
    return _MAPS.get(dto)


class RowMap(Generic[T]):
    def __init__(self, dto: type[T], **sources: Source) -> None:
        definition = dto.__strawberry_definition__  # type: ignore[attr-defined]
        # Fields with a resolver compute themselves; the rest come from the row.
        names = [f.python_name for f in definition.fields if f.base_resolver is None]
        unknown = set(sources) - set(names)
        assert not unknown, f"{dto.__name__} has no fields {sorted(unknown)}"
        self.dto = dto
        # name → ("column", column) | ("compute", function) | ("json", column)
        self.sources: dict[str, tuple[str, Any]] = {}
        self._getters: dict[str, Callable[[Any], Any]] = {}
        self._value_types: dict[str, type] = {}
        for name in names:
            source = sources.get(name, name)
            if isinstance(source, str):
                self.sources[name] = ("column", source)
                self._getters[name] = attrgetter(source)
            elif isinstance(source, type):  # a value object (or a list of them) in JSON
                self.sources[name] = ("json", name)
                self._getters[name] = attrgetter(name)
                self._value_types[name] = source
            else:
                self.sources[name] = ("compute", source)
                self._getters[name] = source
        self._plan = [(name, self._getters[name], self._value_types.get(name)) for name in names]
        _MAPS[dto] = self

    def build(self, row: Any) -> T:
        if _ROWS_ONLY.get():
            return row  # type: ignore[no-any-return]
        values = {}
        for name, get, value_type in self._plan:
            value = get(row)
            if value_type is not None and value is not None:
                value = (
                    [_value_object(value_type, v) for v in value]
                    if isinstance(value, list)
                    else _value_object(value_type, value)
                )
            values[name] = value
        return self.dto(**values)


def _value_object(value_type: type, stored: dict[str, Any]) -> Any:
    """A value object from its stored JSON (keys: its Python field names), the value objects
    inside it too (a line item's ``Money``)."""
    nested = _nested_types(value_type)
    return value_type(
        **{
            key: _value_object(nested[key], value)
            if key in nested and isinstance(value, dict)
            else value
            for key, value in stored.items()
        }
    )


@cache
def _nested_types(value_type: type) -> dict[str, type]:
    """The fields of ``value_type`` that are themselves object types (or optional ones)."""
    found: dict[str, type] = {}
    for f in value_type.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        inner = f.type.of_type if isinstance(f.type, StrawberryOptional) else f.type
        if has_object_definition(inner):
            found[f.python_name] = inner
    return found
