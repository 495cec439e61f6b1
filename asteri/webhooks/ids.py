"""Message ids (``webhook-id``): ``msg_`` + 22 base62 characters, one per (event, endpoint).

Standard Webhooks asks that a message keep its id across retries, so receivers can drop
duplicates. We derive it rather than store it: HMAC-SHA256 over the event's and the endpoint's
public ids, keyed with a server secret (the caller passes ``ASTERI_KEY_PEPPER``'s bytes), cut to
128 bits. Derived, every attempt (and a replay, or two workers racing) names the same message
with nothing to persist or look up; keyed, an outsider who knows the two public ids cannot
compute it or link it back to them. The id changes only if the key does — changing the pepper
already invalidates every API key, so that is a deliberate, rare event. Two endpoints receiving
one event get two ids.
"""

import hashlib
import hmac

from asteri.kit.ids import base62

__all__ = ["MESSAGE_PREFIX", "message_id"]

MESSAGE_PREFIX = "msg"
_LABEL = b"asteri.webhooks.message-id.v1"


def message_id(event_id: str, endpoint_id: str, *, key: bytes) -> str:
    data = b"\0".join((_LABEL, event_id.encode(), endpoint_id.encode()))
    digest = hmac.new(key, data, hashlib.sha256).digest()[:16]
    return f"{MESSAGE_PREFIX}_{base62(digest).rjust(22, '0')}"
