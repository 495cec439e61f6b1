"""Webhook signing secrets: their form, their masking, their encryption at rest and its key."""

import base64
import logging

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError
from standardwebhooks import Webhook

from asteri.kit.settings import DEV_WEBHOOK_SECRET_KEY, Settings
from asteri.webhooks.secrets import InvalidSecret, SecretBox, WebhookSecret, new_webhook_secret

PROD = {"key_pepper": "p" * 40, "session_secret": "s" * 40}


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    made = [new_webhook_secret() for _ in range(50)]
    for secret in made:
        value = secret.reveal()
        assert value.startswith("whsec_")
        assert len(base64.b64decode(value.removeprefix("whsec_"), validate=True)) == 32
        assert secret.key == base64.b64decode(value.removeprefix("whsec_"))
        Webhook(value)  # the official library reads it as a secret
    assert len({s.reveal() for s in made}) == 50


def test_a_secret_never_shows_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = new_webhook_secret()
    value = secret.reveal()
    body = value.removeprefix("whsec_")
    shown = [repr(secret), str(secret), f"{secret}", repr([secret]), repr({"s": secret})]
    with caplog.at_level(logging.INFO):
        logging.getLogger("asteri.test").info("endpoint secret %s / %r", secret, secret)
    shown.append(caplog.text)
    for text in shown:
        assert body not in text
        assert "whsec_" in text  # it says what it is, not what it holds


@pytest.mark.parametrize(
    "value",
    [
        "",
        "whsec_",
        "sk_" + base64.b64encode(b"x" * 32).decode(),  # not the prefix
        "whsec_" + base64.b64encode(b"x" * 23).decode(),  # below the spec's 24 bytes
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # above its 64
        "whsec_not*base64!",
    ],
)
def test_a_malformed_secret_is_refused(value: str) -> None:
    with pytest.raises(InvalidSecret):
        WebhookSecret(value)


def test_encrypted_at_rest_and_back() -> None:
    box = SecretBox.from_settings(Settings())
    secret = new_webhook_secret()
    stored = box.encrypt(secret)
    assert secret.reveal() not in stored
    assert secret.reveal().removeprefix("whsec_") not in stored
    assert box.encrypt(secret) != stored  # a fresh IV each time
    assert box.decrypt(stored).reveal() == secret.reveal()


def test_a_tampered_ciphertext_or_another_key_is_refused() -> None:
    box = SecretBox((Fernet.generate_key().decode(),))
    stored = box.encrypt(new_webhook_secret())
    raw = bytearray(base64.urlsafe_b64decode(stored))
    raw[-40] ^= 1
    with pytest.raises(InvalidSecret):
        box.decrypt(base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(InvalidSecret):
        SecretBox((Fernet.generate_key().decode(),)).decrypt(stored)
    with pytest.raises(InvalidSecret):
        box.decrypt("not a ciphertext")


def test_the_at_rest_key_rotates() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    secret = new_webhook_secret()
    stored_old = SecretBox((old,)).encrypt(secret)
    # Step 1: prepend the new key. Old rows still decrypt; new rows use the new key.
    both = Settings(webhook_secret_key=f"{new}, {old}")
    box = SecretBox.from_settings(both)
    assert box.decrypt(stored_old).reveal() == secret.reveal()
    assert SecretBox((new,)).decrypt(box.encrypt(secret)).reveal() == secret.reveal()
    # Step 2: re-encrypt every row; step 3: drop the old key.
    rotated = box.rotate(stored_old)
    assert SecretBox((new,)).decrypt(rotated).reveal() == secret.reveal()
    with pytest.raises(InvalidSecret):
        SecretBox((new,)).decrypt(stored_old)


def test_the_development_key_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="ASTERI_WEBHOOK_SECRET_KEY must be set"):
        Settings(mode="production", **PROD)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="ASTERI_WEBHOOK_SECRET_KEY must be set"):
        Settings(mode="production", webhook_secret_key=DEV_WEBHOOK_SECRET_KEY, **PROD)  # type: ignore[arg-type]
    key = Fernet.generate_key().decode()
    prod = Settings(mode="production", webhook_secret_key=key, **PROD)  # type: ignore[arg-type]
    assert (
        SecretBox.from_settings(prod)
        .decrypt(SecretBox((key,)).encrypt(secret := new_webhook_secret()))
        .reveal()
        == secret.reveal()
    )
    assert key not in repr(prod)  # a SecretStr, like the pepper


def test_the_key_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("ASTERI_WEBHOOK_SECRET_KEY", key)
    monkeypatch.setenv("ASTERI_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")
    settings = Settings()
    assert settings.webhook_secret_key.get_secret_value() == key
    assert settings.webhooks_allow_private_targets is True
    assert Settings.model_fields["webhooks_allow_private_targets"].default is False


@pytest.mark.parametrize(
    "value", ["", " , ", "short", base64.urlsafe_b64encode(b"k" * 31).decode()]
)
def test_a_malformed_key_is_a_settings_error(value: str) -> None:
    with pytest.raises(ValidationError, match="ASTERI_WEBHOOK_SECRET_KEY"):
        Settings(webhook_secret_key=value)
