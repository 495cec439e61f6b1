"""Strawberry inputs → plain dicts of what the caller actually sent (``UNSET`` left out)."""

import dataclasses
from enum import Enum
from typing import Any

import strawberry
from strawberry import UNSET

__all__ = ["DeletedObject", "sent_values"]


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
