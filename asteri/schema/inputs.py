"""Strawberry inputs → plain dicts of what the caller actually sent (``UNSET`` left out), and
the resolvers' filters as GraphQL inputs."""

import dataclasses
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry import UNSET

__all__ = ["DeletedObject", "described_enum", "filter_input", "sent_values"]

F = TypeVar("F")


def filter_input(filter_type: type[F], *, description: str) -> type[F]:
    """A resolver module's filter dataclass, made the GraphQL input of the same name: its
    fields, types and defaults are declared once, there, with each field's description in its
    ``metadata``. The resolvers then receive the caller's input as it is."""
    descriptions = {
        f.name: f.metadata.get("description")
        for f in dataclasses.fields(filter_type)  # type: ignore[arg-type]
    }
    strawberry.input(filter_type, description=description)
    for field in filter_type.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        field.description = descriptions.get(field.python_name) or field.description
    return filter_type


E = TypeVar("E", bound=Enum)


def described_enum(
    enum: type[E], *, description: str, values: dict[str, str], name: str | None = None
) -> type[E]:
    """A resolver module's enum (the allowed values, declared once, there), made the GraphQL
    enum of the same name (or ``name``, where the Python one is only clear in its module),
    with a description for each value (by member name)."""
    strawberry.enum(enum, name=name, description=description)
    definition = enum.__strawberry_definition__  # type: ignore[attr-defined]
    assert {v.name for v in definition.values} == set(values), f"describe every {enum.__name__}"
    for value in definition.values:
        value.description = values[value.name]
    return enum


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sent_values(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def sent_values(obj: Any) -> dict[str, Any]:
    """Absent fields are omitted, so PATCH semantics hold: absent = untouched, null = clear."""
    return {
        f.name: _plain(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if getattr(obj, f.name) is not UNSET
    }


@strawberry.type(description="The result of a delete: the object is gone from every read.")
class DeletedObject:
    id: strawberry.ID
    deleted: bool = True
