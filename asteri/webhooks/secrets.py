"""Endpoint signing secrets: made here, encrypted at rest, never shown by accident.

A signing secret must be usable to sign, so unlike an API key it cannot be stored as a hash:
it is stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256, authenticated, from the
``cryptography`` package) under ``ASTERI_WEBHOOK_SECRET_KEY``. That setting holds one or more
Fernet keys: the first encrypts, every one decrypts (``MultiFernet``), so the at-rest key can be
rotated by prepending a new key, re-encrypting (``SecretBox.rotate``) and later dropping the old.

The secret's form is the Standard Webhooks one: ``whsec_`` + base64 of 32 random bytes
(the spec asks for 24 to 64). In memory it travels as ``WebhookSecret``, whose ``repr`` and
``str`` mask it, so a log line or a traceback's locals cannot leak it.
"""

import base64
import binascii
import secrets
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from asteri.kit.settings import Settings, fernet_keys

__all__ = [
    "PREFIX",
    "InvalidSecret",
    "SecretBox",
    "WebhookSecret",
    "new_webhook_secret",
]

PREFIX = "whsec_"
_RANDOM_BYTES = 32
_MIN_BYTES, _MAX_BYTES = 24, 64  # Standard Webhooks: a secret is 24 to 64 bytes


class InvalidSecret(ValueError):
    """A value that is not a ``whsec_`` secret, or a ciphertext we cannot decrypt."""


@dataclass(frozen=True)
class WebhookSecret:
    """A ``whsec_…`` signing secret. ``repr``/``str`` show only its prefix and a mask."""

    _value: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self._value.startswith(PREFIX):
            raise InvalidSecret("a webhook secret starts with whsec_")
        try:
            raw = base64.b64decode(self._value[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidSecret("a webhook secret is whsec_ + base64") from exc
        if not _MIN_BYTES <= len(raw) <= _MAX_BYTES:
            raise InvalidSecret(f"a webhook secret is {_MIN_BYTES} to {_MAX_BYTES} bytes")

    def reveal(self) -> str:
        """The whole ``whsec_…`` string: for the one answer that shows it, and for storage."""
        return self._value

    @property
    def key(self) -> bytes:
        """The HMAC key: the base64-decoded part after ``whsec_``."""
        return base64.b64decode(self._value[len(PREFIX) :])

    def __repr__(self) -> str:
        return f"WebhookSecret('{PREFIX}…')"

    __str__ = __repr__


def new_webhook_secret() -> WebhookSecret:
    return WebhookSecret(PREFIX + base64.b64encode(secrets.token_bytes(_RANDOM_BYTES)).decode())


class SecretBox:
    """Encrypts and decrypts signing secrets with the at-rest keys of the settings."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> "SecretBox":
        return cls(fernet_keys(settings.webhook_secret_key.get_secret_value()))

    def encrypt(self, secret: WebhookSecret) -> str:
        """The ciphertext to store (ASCII, url-safe base64; it embeds its creation time)."""
        return self._fernet.encrypt(secret.reveal().encode()).decode("ascii")

    def decrypt(self, stored: str) -> WebhookSecret:
        try:
            plain = self._fernet.decrypt(stored.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise InvalidSecret("not a ciphertext of any configured key") from exc
        return WebhookSecret(plain.decode())

    def rotate(self, stored: str) -> str:
        """``stored`` re-encrypted under the first key (run over every row after prepending a
        new key; then the old key can be dropped)."""
        try:
            return self._fernet.rotate(stored.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise InvalidSecret("not a ciphertext of any configured key") from exc
