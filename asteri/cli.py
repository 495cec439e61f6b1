"""``asteri``: serve, migrate, and operate organizations and keys. Every command has ``--json``."""

import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click
import orjson
from sqlalchemy import Engine

from asteri.kit.db import create_sync_engine
from asteri.kit.errors import ApiError
from asteri.kit.settings import get_settings
from asteri.models import Environment
from asteri.models.api_key import DEFAULT_PER_DAY, DEFAULT_PER_MINUTE

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _emit(as_json: bool, data: dict[str, Any], words: str) -> None:
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(words)


@contextmanager
def _engine() -> Iterator[Engine]:
    """A short-lived engine per command, disposed so no pooled connection outlives it."""
    engine = create_sync_engine(get_settings().database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(func)


class _Cli(click.Group):
    """Domain errors become one clear line on stderr and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(2)


@click.group(cls=_Cli)
def main() -> None:
    """Asteri Public API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the API (GraphQL at /api/public/v1/graphql)."""
    import uvicorn

    from asteri.http.client import UVICORN_OPTIONS

    uvicorn.run("asteri.app:serving_app", factory=True, host=host, port=port, **UVICORN_OPTIONS)


@main.command()
def worker() -> None:
    """Run the background runner: webhook delivery and the periodic purges, until SIGINT or
    SIGTERM. Several may run against one database."""
    import asyncio
    import logging
    import signal

    from asteri.workers.runner import BackgroundRunner

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        runner = BackgroundRunner(get_settings())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, runner.stop.set)
        click.echo("Worker running: webhook delivery and purges. Ctrl-C stops it.")
        runner.start()
        await runner.stop.wait()
        await runner.close()

    asyncio.run(run())


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Apply every migration to ASTERI_DATABASE_URL."""
    from asteri.migrations import upgrade

    url = get_settings().database_url
    upgrade(url)
    _emit(as_json, {"upgraded": True, "revision": "head"}, "Database is at the latest revision.")


@main.group()
def orgs() -> None:
    """Organizations."""


@orgs.command("create")
@click.argument("name")
@json_option
def orgs_create(name: str, as_json: bool) -> None:
    from asteri.admin import create_organization

    with _engine() as engine:
        org = create_organization(engine, name)
    _emit(as_json, {"id": org.public_id, "name": org.name}, f"Created {org.public_id} ({name}).")


@orgs.command("number-prefixes")
@click.argument("org_id")
@click.option("--estimates", help="What estimate numbers start with, e.g. EST.")
@click.option("--invoices", help="What invoice numbers start with, e.g. INV.")
@json_option
def orgs_number_prefixes(
    org_id: str, estimates: str | None, invoices: str | None, as_json: bool
) -> None:
    """Set the prefixes of the organization's document numbers (EST-0001, INV-0001)."""
    from asteri.admin import set_number_prefixes

    with _engine() as engine:
        org = set_number_prefixes(engine, org_id, estimate=estimates, invoice=invoices)
    data = {"id": org.public_id, "estimates": org.estimate_prefix, "invoices": org.invoice_prefix}
    words = f"{org.public_id}: estimates {org.estimate_prefix}-…, invoices {org.invoice_prefix}-…"
    _emit(as_json, data, words)


@main.group()
def keys() -> None:
    """API keys, managed as the security center does, audited as the operator (a secret is
    printed once)."""


@keys.command("create")
@click.option("--org", "org_id", required=True, help="Organization id (org_…).")
@click.option("--scope", "scopes", multiple=True, required=True, help="Repeat for each scope.")
@click.option("--env", "environment", type=click.Choice(["live", "test"]), default="live")
@click.option("--expires-in", default="90d", show_default=True, help="90s, 15m, 24h, 30d…")
@click.option("--name", default="API key", show_default=True)
@click.option(
    "--persisted-only", is_flag=True, help="Allow persisted operations only (REST, or by hash)."
)
@click.option(
    "--per-minute", type=int, default=DEFAULT_PER_MINUTE, show_default=True, help="Rate limit."
)
@click.option("--per-day", type=int, default=DEFAULT_PER_DAY, show_default=True, help="Rate limit.")
@json_option
def keys_create(
    org_id: str,
    scopes: tuple[str, ...],
    environment: str,
    expires_in: str,
    name: str,
    persisted_only: bool,
    per_minute: int,
    per_day: int,
    as_json: bool,
) -> None:
    from asteri.admin import KeyRequest, create_key, parse_duration

    with _engine() as engine:
        issued = create_key(
            engine,
            KeyRequest(
                organization_id=org_id,
                scopes=list(scopes),
                environment=Environment(environment),
                expires_in=parse_duration(expires_in),
                name=name,
                persisted_only=persisted_only,
                per_minute=per_minute,
                per_day=per_day,
            ),
            pepper=get_settings().key_pepper.get_secret_value(),
        )
    record = issued.record
    data = {
        "id": record.public_id,
        "key": issued.secret,
        "name": record.name,
        "organization_id": org_id,
        "scopes": record.scopes,
        "environment": record.environment,
        "expires_at": record.expires_at.isoformat(),
        "persisted_only": record.persisted_only,
        "per_minute": record.per_minute,
        "per_day": record.per_day,
    }
    _emit(as_json, data, f"Created {record.public_id}. Key (shown once): {issued.secret}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@keys.command("list")
@click.option("--org", "org_id", required=True, help="Organization id (org_…).")
@json_option
def keys_list(org_id: str, as_json: bool) -> None:
    """Every key of an organization. Never the secret or its hash."""
    from asteri.admin import list_keys

    with _engine() as engine:
        records = list_keys(engine, org_id)
    rows = [
        {
            "id": k.public_id,
            "name": k.name,
            "prefix": k.display_prefix,
            "scopes": k.scopes,
            "environment": k.environment,
            "per_minute": k.per_minute,
            "per_day": k.per_day,
            "created_at": _iso(k.created_at),
            "expires_at": _iso(k.expires_at),
            "revoked_at": _iso(k.revoked_at),
            "last_used_at": _iso(k.last_used_at),
            "rotated_from": k.rotated_from,
            "created_by": k.created_by,
        }
        for k in records
    ]
    lines = [
        f"{k.public_id}  {k.display_prefix}…  {k.environment}  {k.name}  "
        f"scopes={','.join(k.scopes)}  {k.per_minute}/min {k.per_day}/day  "
        f"expires={_iso(k.expires_at)}  "
        + (f"revoked={_iso(k.revoked_at)}  " if k.revoked_at else "")
        + (f"rotated_from={k.rotated_from}  " if k.rotated_from else "")
        + f"last_used={_iso(k.last_used_at) or 'never'}"
        for k in records
    ]
    _emit(as_json, {"organization_id": org_id, "keys": rows}, "\n".join(lines) or "No keys.")


@keys.command("rotate")
@click.argument("key_id")
@click.option(
    "--overlap",
    default="24h",
    show_default=True,
    help="How long the old key keeps working: 0 to 7d (0 = revoke it now).",
)
@json_option
def keys_rotate(key_id: str, overlap: str, as_json: bool) -> None:
    """Replace a key's secret (printed once); the old one works until the overlap ends."""
    from asteri.admin import parse_duration, rotate_key

    window = timedelta(0) if overlap.strip() == "0" else parse_duration(overlap)
    with _engine() as engine:
        rotated = rotate_key(
            engine, key_id, overlap=window, pepper=get_settings().key_pepper.get_secret_value()
        )
    record = rotated.record
    data = {
        "id": record.public_id,
        "key": rotated.secret,
        "rotated_from": key_id,
        "old_key_valid_until": rotated.old_key_valid_until.isoformat(),
        "name": record.name,
        "scopes": record.scopes,
        "environment": record.environment,
        "expires_at": record.expires_at.isoformat(),
        "persisted_only": record.persisted_only,
        "per_minute": record.per_minute,
        "per_day": record.per_day,
    }
    words = (
        f"Rotated {key_id} to {record.public_id}. Key (shown once): {rotated.secret}\n"
        f"The old key works until {data['old_key_valid_until']}."
    )
    _emit(as_json, data, words)


@keys.command("update")
@click.argument("key_id")
@click.option("--name", default=None, help="A new name.")
@click.option("--scope", "scopes", multiple=True, help="Replaces every scope (repeatable).")
@click.option("--per-minute", type=int, default=None)
@click.option("--per-day", type=int, default=None)
@json_option
def keys_update(
    key_id: str,
    name: str | None,
    scopes: tuple[str, ...],
    per_minute: int | None,
    per_day: int | None,
    as_json: bool,
) -> None:
    """Change a key's name, scopes or limits (only what is given); audited. Its next request
    is decided by the new terms, cached or not."""
    from asteri.admin import update_key

    changes: dict[str, Any] = {
        k: v
        for k, v in {"name": name, "per_minute": per_minute, "per_day": per_day}.items()
        if v is not None
    }
    if scopes:
        changes["scopes"] = list(scopes)
    if not changes:
        raise click.UsageError(
            "Nothing to change: give --name, --scope, --per-minute or --per-day."
        )
    with _engine() as engine:
        key = update_key(engine, key_id, **changes)
    data = {
        "id": key.public_id,
        "name": key.name,
        "scopes": key.scopes,
        "per_minute": key.per_minute,
        "per_day": key.per_day,
    }
    _emit(as_json, data, f"Updated {key.public_id}: {', '.join(sorted(changes))}.")


@keys.command("revoke")
@click.argument("key_id")
@json_option
def keys_revoke(key_id: str, as_json: bool) -> None:
    """Revoke a key now (also during a rotation's overlap): its next request gets 401."""
    from asteri.admin import revoke_key

    with _engine() as engine:
        revoke_key(engine, key_id)
    _emit(as_json, {"id": key_id, "revoked": True}, f"Revoked {key_id}.")


@main.group()
def tokens() -> None:
    """Bearer sessions for people: issue and revoke."""


@tokens.command("issue")
@click.option("--member", "member_id", required=True, help="The team member signing in (tm_…).")
@click.option("--ttl", default="1h", show_default=True, help="90s, 15m, 24h… at most 7d.")
@json_option
def tokens_issue(member_id: str, ttl: str, as_json: bool) -> None:
    """A signed session token for the person behind a team member (printed once)."""
    from asteri.admin import parse_duration
    from asteri.authz.sessions import issue_session

    with _engine() as engine:
        issued = issue_session(
            engine,
            member_id,
            ttl=parse_duration(ttl),
            secret=get_settings().session_secret.get_secret_value(),
        )
    data = {
        "token": issued.token,
        "expires_at": issued.expires_at.isoformat(),
        "session_id": issued.session_id,
        "person_id": issued.person_id,
    }
    words = (
        f"Session {issued.session_id} until {data['expires_at']}. Token (shown once):\n"
        f"{issued.token}"
    )
    _emit(as_json, data, words)


@tokens.command("revoke")
@click.argument("session_id")
@json_option
def tokens_revoke(session_id: str, as_json: bool) -> None:
    """Sign a session out now: its tokens are refused from the next request."""
    from asteri.authz.sessions import revoke_session

    with _engine() as engine:
        revoke_session(engine, session_id)
    _emit(as_json, {"id": session_id, "revoked": True}, f"Revoked {session_id}.")


@main.group()
def idempotency() -> None:
    """Stored Idempotency-Key responses (kept 24 h)."""


@idempotency.command("purge")
@json_option
def idempotency_purge(as_json: bool) -> None:
    """Delete the stored responses whose 24 h have passed."""
    from asteri.workers.purges import purge_idempotency_records

    with _engine() as engine:
        deleted = purge_idempotency_records(engine)
    _emit(as_json, {"deleted": deleted}, f"Deleted {deleted} expired idempotency records.")


@main.command()
@json_option
def demo(as_json: bool) -> None:
    """Seed (idempotently) a demo organization and print a fresh all-scopes key."""
    from asteri.demo import seed_demo

    with _engine() as engine:
        result = seed_demo(engine, get_settings())
    words = (
        f"Demo organization: {result.organization_id} ({result.organization_name})\n"
        f"Demo API key (live, all scopes, shown once): {result.api_key}\n"
        "Try:\n"
        "  curl -X POST http://127.0.0.1:8000/api/public/v1/graphql \\\n"
        f"    -H 'x-api-key: {result.api_key}' \\\n"
        f"    -H 'x-organization-id: {result.organization_id}' \\\n"
        "    -H 'content-type: application/json' \\\n"
        '    -d \'{"query":"{ customers(first: 5) { nodes { id displayName } } }"}\'\n'
        "GraphiQL: http://127.0.0.1:8000/api/public/v1/graphql "
        "(set both headers in its Headers tab)"
    )
    if result.owner_session_token:
        words += (
            f"\nDemo owner session ({result.owner_member_id}, 24 h, for people-only features such "
            f"as the security center):\n  -H 'authorization: Bearer {result.owner_session_token}'"
        )
    _emit(as_json, dataclasses.asdict(result), words)


@main.group()
def schema() -> None:
    """The public contract."""


@schema.command("print")
def schema_print() -> None:
    """Print the GraphQL SDL (with @requiresScope directives)."""
    from asteri.schema import print_sdl

    click.echo(print_sdl(), nl=False)


@schema.command("openapi")
def schema_openapi() -> None:
    """Print the OpenAPI 3.1 document of the REST facade."""
    from asteri.app import create_app

    document = create_app().openapi()
    click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


@schema.command("events")
def schema_events() -> None:
    """Print the event catalogue: every event type and its payload's JSON Schema."""
    from asteri.app import create_app
    from asteri.rest_facade.openapi import event_catalogue

    catalogue = event_catalogue(create_app().openapi())
    click.echo(orjson.dumps(catalogue, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
