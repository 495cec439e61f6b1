"""Standard Webhooks v1 signatures (https://www.standardwebhooks.com), exactly.

Each attempt carries three headers: ``webhook-id`` (the message id, the same on every attempt),
``webhook-timestamp`` (this attempt's unix seconds) and ``webhook-signature``: ``v1,`` + base64
of HMAC-SHA256 over ``{id}.{timestamp}.{body}``, keyed with the base64-decoded part of the
``whsec_`` secret. While an endpoint's secret is being rotated, each active secret adds its own
``v1,…``, space-separated, so a receiver holding either secret accepts the message. The body is
signed as the exact bytes sent. The tests check every header we build with the official
``standardwebhooks`` package.

``verify`` is for our own use (tests, a future "send test event" check): constant-time
comparison, a timestamp within five minutes either way, as the spec's verifiers do.
"""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from asteri.webhooks.secrets import WebhookSecret

__all__ = [
    "TOLERANCE_SECONDS",
    "WebhookVerificationError",
    "sign",
    "signature_headers",
    "verify",
]

TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    """Missing or malformed headers, a stale or future timestamp, or no matching signature."""


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: WebhookSecret, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature."""
    return "v1," + base64.b64encode(_digest(secret.key, msg_id, timestamp, body)).decode()


def signature_headers(
    msg_id: str,
    body: bytes,
    secrets: Sequence[WebhookSecret],
    *,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three headers of one attempt, signed with every active secret (at least one)."""
    if not secrets:
        raise ValueError("an endpoint signs with at least one active secret")
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(sign(s, msg_id, ts, body) for s in secrets),
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[WebhookSecret],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Returns if one ``v1`` signature matches one of ``secrets``; raises otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signature = lowered.get("webhook-signature")
    if not (msg_id and stamp and signature):
        raise WebhookVerificationError("missing webhook-id, -timestamp or -signature")
    if not stamp.isascii() or not stamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not unix seconds")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise WebhookVerificationError("message timestamp too old")
    if timestamp > current + tolerance:
        raise WebhookVerificationError("message timestamp too new")
    expected = [_digest(s.key, msg_id, timestamp, body) for s in secrets]
    matched = False
    for part in signature.split(" "):
        version, sep, encoded = part.partition(",")
        if version != "v1" or not sep:
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        for digest in expected:  # no early exit: every comparison is made
            matched |= hmac.compare_digest(digest, given)
    if not matched:
        raise WebhookVerificationError("no matching signature")
