"""Our Standard Webhooks headers, checked by the official ``standardwebhooks`` package."""

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as OfficialError

from asteri.webhooks.secrets import WebhookSecret, new_webhook_secret
from asteri.webhooks.signing import (
    WebhookVerificationError,
    sign,
    signature_headers,
    verify,
)

BODY = b'{"type":"customer.created","data":{"id":"cus_1","display_name":"Zo\xc3\xab"}}'
MSG = "msg_2SzS0mgSq5Lk1Y5bJzQx3v"


def test_the_spec_test_vector() -> None:
    """The example of the Standard Webhooks reference libraries' own tests."""
    secret = WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = signature_headers(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", b'{"test": 2432232314}', [secret], timestamp=1614265330
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_the_signature_is_hmac_of_id_timestamp_body_with_the_decoded_secret() -> None:
    secret = new_webhook_secret()
    raw_key = base64.b64decode(secret.reveal().removeprefix("whsec_"))
    expected = hmac.new(raw_key, f"{MSG}.1700000000.".encode() + BODY, hashlib.sha256).digest()
    assert sign(secret, MSG, 1700000000, BODY) == "v1," + base64.b64encode(expected).decode()


def test_the_official_verifier_accepts_our_headers() -> None:
    secret = new_webhook_secret()
    before = int(time.time())
    headers = signature_headers(MSG, BODY, [secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == MSG
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert Webhook(secret.reveal()).verify(BODY, headers) == {
        "type": "customer.created",
        "data": {"id": "cus_1", "display_name": "Zoë"},
    }
    verify(BODY, headers, [secret])  # and ours


def test_during_rotation_each_secrets_verifier_accepts() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    headers = signature_headers(MSG, BODY, [new, old])
    parts = headers["webhook-signature"].split(" ")
    assert len(parts) == 2
    assert all(p.startswith("v1,") for p in parts)
    assert parts == [
        sign(new, MSG, int(headers["webhook-timestamp"]), BODY),
        sign(old, MSG, int(headers["webhook-timestamp"]), BODY),
    ]
    Webhook(old.reveal()).verify(BODY, headers)
    Webhook(new.reveal()).verify(BODY, headers)
    verify(BODY, headers, [old])
    verify(BODY, headers, [new])
    stranger = new_webhook_secret()
    with pytest.raises(OfficialError):
        Webhook(stranger.reveal()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(BODY, headers, [stranger])


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: (h, b + b" "), id="body"),
        pytest.param(lambda h, b: (h, b.replace(b"cus_1", b"cus_2")), id="body-value"),
        pytest.param(
            lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
            id="timestamp",
        ),
        pytest.param(lambda h, b: ({**h, "webhook-id": MSG + "x"}, b), id="id"),
        pytest.param(
            lambda h, b: ({**h, "webhook-signature": h["webhook-signature"][:-6] + "AAAAA="}, b),
            id="signature",
        ),
        pytest.param(
            lambda h, b: (
                {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")},
                b,
            ),
            id="version",
        ),
    ],
)
def test_a_tampered_message_is_refused(tamper: object) -> None:
    secret = new_webhook_secret()
    headers, body = tamper(signature_headers(MSG, BODY, [secret]), BODY)  # type: ignore[operator]
    with pytest.raises(OfficialError, match="No matching signature"):
        Webhook(secret.reveal()).verify(body, headers)
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(body, headers, [secret])


@pytest.mark.parametrize(
    ("offset", "official", "ours"),
    [(-301, "too old", "too old"), (-3600, "too old", "too old"), (301, "too new", "too new")],
)
def test_a_stale_or_future_timestamp_is_refused(offset: int, official: str, ours: str) -> None:
    secret = new_webhook_secret()
    headers = signature_headers(MSG, BODY, [secret], timestamp=int(time.time()) + offset)
    with pytest.raises(OfficialError, match=official):
        Webhook(secret.reveal()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError, match=ours):
        verify(BODY, headers, [secret])


@pytest.mark.parametrize("offset", [-290, 0, 290])
def test_within_five_minutes_is_accepted(offset: int) -> None:
    secret = new_webhook_secret()
    headers = signature_headers(MSG, BODY, [secret], timestamp=int(time.time()) + offset)
    Webhook(secret.reveal()).verify(BODY, headers)
    verify(BODY, headers, [secret])


def test_our_verifier_tolerance_is_measured_from_now() -> None:
    secret = new_webhook_secret()
    headers = signature_headers(MSG, BODY, [secret], timestamp=1_000_000)
    verify(BODY, headers, [secret], now=1_000_300)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(BODY, headers, [secret], now=1_000_301)
    with pytest.raises(WebhookVerificationError, match="too new"):
        verify(BODY, headers, [secret], now=999_699)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": MSG, "webhook-timestamp": "1700000000"},
        {"webhook-id": MSG, "webhook-signature": "v1,AAAA"},
        {"webhook-id": MSG, "webhook-timestamp": "soon", "webhook-signature": "v1,AAAA"},
        {"webhook-id": MSG, "webhook-timestamp": "-5", "webhook-signature": "v1,AAAA"},
    ],
)
def test_missing_or_malformed_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookVerificationError):
        verify(BODY, headers, [new_webhook_secret()], now=1700000000)


def test_header_names_are_case_insensitive_and_junk_signatures_are_skipped() -> None:
    secret = new_webhook_secret()
    headers = signature_headers(MSG, BODY, [secret])
    shouted = {k.upper(): v for k, v in headers.items()}
    shouted["WEBHOOK-SIGNATURE"] = "v1a,xyz v1,%%% " + shouted["WEBHOOK-SIGNATURE"]
    verify(BODY, shouted, [secret])


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one"):
        signature_headers(MSG, BODY, [])
