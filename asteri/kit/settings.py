"""One settings object, read from ``ASTERI_*`` environment variables."""

import base64
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_PUBLIC_URL", "DEV_PEPPER", "DEV_WEBHOOK_SECRET_KEY", "Settings", "get_settings"]

DEV_PEPPER = "asteri-development-pepper-not-for-production"
DEV_SESSION_SECRET = "asteri-development-session-secret-not-for-production"  # noqa: S105 (refused in production)
# A Fernet key (32 bytes, url-safe base64) for development only: refused in production.
DEV_WEBHOOK_SECRET_KEY = "YXN0ZXJpLWRldi13ZWJob29rLWtleS1ub3QtZm9yLXA="  # noqa: S105
# Where `asteri serve` listens by default: the portal's base until one is configured.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASTERI_", extra="ignore")

    mode: Literal["development", "production"] = "development"
    # The public base URL of this deployment's developer portal (scheme and host, maybe a
    # path; no trailing slash): every problem's `type` is a page under it,
    # `<public_url>/developers/problems/<code>`.
    public_url: str = DEFAULT_PUBLIC_URL
    database_url: str = "sqlite:///./asteri.db"
    # Unset means the embedded default: in-process rate limiter and webhook worker.
    redis_url: str | None = None
    # Prefix of every Redis key we write, so several deployments can share one Redis.
    redis_prefix: str = "asteri:"
    # Keyed hash secret for API keys (HMAC-SHA256). Must be set outside development.
    key_pepper: SecretStr = SecretStr(DEV_PEPPER)
    # Signs bearer session tokens (HS256). Rotating it signs everyone out.
    session_secret: SecretStr = SecretStr(DEV_SESSION_SECRET)
    # Encrypts webhook endpoints' signing secrets at rest (webhooks/secrets.py): Fernet keys,
    # comma-separated, the first encrypting and every one decrypting, so the key can be
    # rotated. Must be set outside development.
    webhook_secret_key: SecretStr = SecretStr(DEV_WEBHOOK_SECRET_KEY)
    # Lets webhooks target loopback, private, link-local and other non-public addresses, and
    # plain http in production (webhooks/targets.py): local development and tests only.
    webhooks_allow_private_targets: bool = False
    # The background runner (webhook delivery, periodic purges) inside `asteri serve`. Unset:
    # yes on the embedded default (no Redis), where no separate `asteri worker` runs; with
    # Redis configured, run `asteri worker` processes instead (or set this true).
    worker_in_process: bool | None = None
    # How long one webhook attempt may take (connect to last byte read), in seconds. A worker's
    # lease on a delivery is four times this: a killed worker's deliveries are taken over then.
    webhook_timeout_seconds: float = 15.0
    # Failed authentications (401) allowed per client address (the TCP peer) per minute;
    # beyond it a failing address gets 429 (see authz/limits.py).
    auth_failures_per_minute: int = 30
    # GraphQL documents sent without any credential, per client address per minute (beyond,
    # 429). Introspection (GraphiQL loading the schema) is not counted.
    anonymous_documents_per_minute: int = 30
    # Developer searches (``GET /search``, public: no key) per client address per minute;
    # beyond it, 429 (``portal/routes.py``).
    search_requests_per_minute: int = 60
    # Our own reverse proxies (addresses or networks, comma-separated): only from these is
    # ``X-Forwarded-For`` read, to find the client address (``http/client.py``).
    trusted_proxies: str = ""
    # Browser origins allowed to call the API (comma-separated, exact: `https://app.example`);
    # empty: no CORS headers for anyone (http/cors.py).
    cors_origins: str = ""
    max_query_depth: int = 10
    max_aliases: int = 30
    # Bounds of a free-text GraphQL document, checked before the step each protects
    # (schema/limits.py): bytes and tokens before parsing, selections before validation,
    # cost (objects it can return) before execution.
    max_document_bytes: int = 65_536
    max_document_tokens: int = 2_000  # a full introspection query has about 200
    max_document_selections: int = 250  # a full introspection query has about 80
    max_document_fragments: int = 30
    max_query_cost: int = 20_000
    max_page_size: int = 100
    default_page_size: int = 20
    # REST reads skip per-field GraphQL execution where the operation allows (see
    # rest_facade/compiled.py); off runs every route through the schema.
    compiled_reads: bool = True
    # PostgreSQL: the role request queries run as, under row-level security
    # (kit/row_security.py); empty: the URL's own user (it must then own nothing and lack
    # BYPASSRLS). Migrations and the CLI always use the URL's own user.
    database_role: str | None = "asteri_app"
    # Test-only: false drops the application's tenant filter (and its guard), to prove that
    # row-level security alone keeps tenants apart. Refused in production.
    tenant_filter: bool = True

    @property
    def runs_worker_in_process(self) -> bool:
        if self.worker_in_process is None:
            return self.redis_url is None
        return self.worker_in_process

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return _networks(self.trusted_proxies)

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("ASTERI_PUBLIC_URL must be an absolute http(s) URL")
        if value.endswith("/"):
            raise ValueError("ASTERI_PUBLIC_URL must not end with a slash")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("ASTERI_PUBLIC_URL has no query, fragment or user information")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        _networks(value)  # a bad entry: ValueError, reported as a settings error
        return value

    @field_validator("webhook_secret_key")
    @classmethod
    def _valid_fernet_keys(cls, value: SecretStr) -> SecretStr:
        fernet_keys(value.get_secret_value())  # a bad key: ValueError, a settings error
        return value

    @field_validator("database_role")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> "Settings":
        if self.mode == "production" and self.key_pepper.get_secret_value() == DEV_PEPPER:
            raise ValueError("ASTERI_KEY_PEPPER must be set when ASTERI_MODE=production")
        if (
            self.mode == "production"
            and self.session_secret.get_secret_value() == DEV_SESSION_SECRET
        ):
            raise ValueError("ASTERI_SESSION_SECRET must be set when ASTERI_MODE=production")
        if (
            self.mode == "production"
            and self.webhook_secret_key.get_secret_value() == DEV_WEBHOOK_SECRET_KEY
        ):
            raise ValueError("ASTERI_WEBHOOK_SECRET_KEY must be set when ASTERI_MODE=production")
        if self.mode == "production" and not self.tenant_filter:
            raise ValueError("ASTERI_TENANT_FILTER=false is for tests only, never production")
        if len(self.session_secret.get_secret_value().encode()) < 32:
            raise ValueError("ASTERI_SESSION_SECRET must be at least 32 bytes (RFC 7518 §3.2)")
        return self


def fernet_keys(text: str) -> tuple[str, ...]:
    """``"k1, k2"`` → the keys, each 32 bytes in url-safe base64 (Fernet's form)."""
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    if not keys:
        raise ValueError("ASTERI_WEBHOOK_SECRET_KEY needs at least one key")
    for key in keys:
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            raise ValueError(
                "ASTERI_WEBHOOK_SECRET_KEY: each key must be 32 bytes in url-safe base64"
            )
    return keys


def _networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` → the networks."""
    return tuple(ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
