"""Event payloads are the public DTO as its REST object: snake_case field names, enum values
as REST spells them, ``object`` (its type) first. ``data.object`` of an event's payload is
this (``schema/events.py``), and its JSON Schema is the REST object's."""

import importlib
from collections.abc import Callable
from enum import Enum
from typing import Any

import orjson

from asteri.kit.naming import snake
from asteri.resolvers.crud import Resource, Snapshot

__all__ = ["plain", "snapshot_for", "snapshot_of"]


def plain(value: Any) -> Any:
    """A strawberry DTO as plain data: its stored fields only (resolver fields are skipped)."""
    if isinstance(value, Enum):
        # Checked first: strawberry enum members also carry ``__strawberry_definition__``.
        return value.value
    definition = getattr(value, "__strawberry_definition__", None)
    if definition is not None:
        return {
            f.python_name: plain(getattr(value, f.python_name))
            for f in definition.fields
            if f.base_resolver is None
        }
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def snapshot_of(to_dto: Callable[[Any], Any]) -> Callable[[Any], dict[str, Any]]:
    def snapshot(row: Any) -> dict[str, Any]:
        dto = to_dto(row)
        kind = snake(dto.__strawberry_definition__.name)
        data: dict[str, Any] = orjson.loads(orjson.dumps({"object": kind, **plain(dto)}))
        return data

    return snapshot


def snapshot_for(resource: Resource) -> Snapshot:
    """``resource``'s payloads: the ``snapshot`` of its schema module, named after it
    (``schema/invoice.py``), found as the registry finds resolver modules: what a write that
    changes objects of other resources records their events with (``crud.Snapshots``)."""
    found: Snapshot = importlib.import_module(f"asteri.schema.{resource.name}").snapshot
    return found
