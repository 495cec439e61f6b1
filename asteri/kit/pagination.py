"""Keyset cursors: stable under inserts, opaque to callers, and carry no internal key."""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from asteri.kit.errors import BadRequest, BadUserInput, FieldError

__all__ = ["Cursor", "Page", "check_page_size", "decode_cursor", "encode_cursor"]

T = TypeVar("T")
SortValue = str | int | float | bool | datetime | None


@dataclass(frozen=True)
class Cursor:
    """The position after a row: its sort value and its public id as the tie-breaker."""

    sort: str
    value: SortValue
    public_id: str


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_next_page: bool
    end_cursor: str | None
    # Related rows read in the same statement, aligned with ``items`` (``crud.Joined``).
    joined: list[Any] | None = None


def encode_cursor(cursor: Cursor) -> str:
    value = cursor.value.isoformat() if isinstance(cursor.value, datetime) else cursor.value
    raw = orjson.dumps({"s": cursor.sort, "v": value, "i": cursor.public_id})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(token: str, *, sort: str, is_datetime: bool) -> Cursor:
    """Parse a cursor issued for ``sort``; anything else is a 400, never a 500."""
    invalid = BadRequest("The cursor is malformed or belongs to another ordering.", param="after")
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError, orjson.JSONDecodeError):
        raise invalid from None
    if not isinstance(data, dict) or data.get("s") != sort or not isinstance(data.get("i"), str):
        raise invalid
    if "\x00" in data["i"] or (isinstance(data.get("v"), str) and "\x00" in data["v"]):
        raise invalid
    value = data.get("v")
    if is_datetime:
        if not isinstance(value, str):
            raise invalid
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise invalid from None
        if value.tzinfo is None:
            raise invalid
    elif not isinstance(value, str | int | float | bool) and value is not None:
        raise invalid
    return Cursor(sort=sort, value=value, public_id=data["i"])


def check_page_size(first: int, *, maximum: int, argument: str = "first") -> int:
    if not 1 <= first <= maximum:
        raise BadUserInput(
            f"`{argument}` must be between 1 and {maximum}.",
            errors=[FieldError(f"/{argument}", f"must be between 1 and {maximum}")],
        )
    return first
