"""Opaque, prefixed public ids (``cus_…``): the only ids that leave the process."""

import secrets
import string
from enum import StrEnum

__all__ = ["BASE62", "IdPrefix", "base62", "new_public_id", "parse_public_id"]

BASE62 = string.digits + string.ascii_letters


class IdPrefix(StrEnum):
    """The machinery's own ids. A resource declares its prefix on its ``Resource``; a test
    holds every prefix unique."""

    ORGANIZATION = "org"
    API_KEY = "key"
    AUDIT_ENTRY = "aud"
    EVENT = "evt"
    PERSON = "per"
    SESSION = "ses"
    WEBHOOK_DELIVERY = "whd"
    WEBHOOK_ATTEMPT = "wha"
    PAYMENT_REFUND = "re"


def base62(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 62)
        out.append(BASE62[rem])
    return "".join(reversed(out)) or "0"


def new_public_id(prefix: str) -> str:
    """16 random bytes: unguessable, so ids neither leak counts nor can be enumerated."""
    return f"{prefix}_{base62(secrets.token_bytes(16)).rjust(22, '0')}"


def parse_public_id(value: str, prefix: str) -> str | None:
    """The id if it is well-formed for ``prefix``, else None (callers answer 404)."""
    head, sep, body = value.partition("_")
    if sep != "_" or head != prefix or not 1 <= len(body) <= 32:
        return None
    if any(ch not in BASE62 for ch in body):
        return None
    return value
