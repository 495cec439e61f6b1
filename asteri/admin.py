"""The operator (the ``asteri`` CLI, the demo): organizations, and any organization's API keys.

Keys have one implementation, the security center's (``resolvers/api_key.py``): the operator
runs those resolvers as an operator principal of the key's tenant, on the request path's
database (guarded; on PostgreSQL as ``asteri_app`` under row security), in one transaction,
so its changes follow the same rules and leave the same audit entries and events. All the
operator adds is its way in: it has a key or organization id but no credential, so it first
finds the tenant with one read across tenants on its own engine (``authz/isolation.py``).
"""

import asyncio
import atexit
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlmodel import col

from asteri.authz.isolation import request_database
from asteri.authz.key_policy import MAX_LIMIT  # re-exported: benchmarks/run.py imports it here
from asteri.authz.keys import IssuedKey, RotatedKey
from asteri.authz.principal import ActorType, Principal
from asteri.authz.scopes import Scope
from asteri.authz.tenancy import tenant
from asteri.kit.db import Database, RequestStore
from asteri.kit.errors import BadUserInput, NotFound
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.kit.settings import Settings
from asteri.models import ApiKey, Environment, Organization
from asteri.models.api_key import DEFAULT_PER_DAY, DEFAULT_PER_MINUTE
from asteri.resolvers import api_key as keys
from asteri.resolvers.unit import UnitOfWork
from asteri.schema.api_key import snapshot

__all__ = [
    "MAX_LIMIT",
    "OPERATOR_ID",
    "KeyRequest",
    "create_key",
    "create_organization",
    "list_keys",
    "operator",
    "parse_duration",
    "revoke_key",
    "rotate_key",
    "update_key",
]

T = TypeVar("T")

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PAGE = 100


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``30d``."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise BadUserInput(f"`{text}` is not a duration like 90s, 15m, 24h or 30d.")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


OPERATOR_ID = "cli"  # the audit trail's actor id; a key it creates has created_by operator:cli


def operator(organization_pk: int, organization_id: str, environment: Environment) -> Principal:
    """Whoever runs the CLI, acting in one tenant with every scope. Never a member, so no
    field of the schema's security center admits it: it reaches the resolvers only here."""
    return Principal(
        organization_pk=organization_pk,
        organization_id=organization_id,
        environment=environment,
        scopes=frozenset(Scope),
        actor_type=ActorType.OPERATOR,
        actor_id=OPERATOR_ID,
    )


def create_organization(engine: Engine, name: str) -> Organization:
    """No tenant exists before it, so nothing on the request path could create it."""
    with Session(engine, expire_on_commit=False) as session:
        org = Organization(public_id=new_public_id(IdPrefix.ORGANIZATION), name=name)
        session.add(org)
        session.commit()
        return org


_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,11}$")


def set_number_prefixes(
    engine: Engine, organization_id: str, *, estimate: str | None, invoice: str | None
) -> Organization:
    """What the organization's estimate and invoice numbers start with from now on (numbers
    already issued keep theirs): an uppercase letter, then up to 11 letters or digits."""
    changes = {"estimate_prefix": estimate, "invoice_prefix": invoice}
    for name, value in changes.items():
        if value is not None and not _PREFIX.fullmatch(value):
            option = name.removesuffix("_prefix")
            raise BadUserInput(
                f"The {option} prefix `{value}` must be an uppercase letter and up to 11 "
                "uppercase letters or digits, e.g. EST."
            )
    with Session(engine, expire_on_commit=False) as session:
        org = session.scalars(
            select(Organization).where(col(Organization.public_id) == organization_id)
        ).first()
        if org is None:
            raise NotFound(f"No organization with id `{organization_id}`.")
        for name, value in changes.items():
            if value is not None:
                setattr(org, name, value)
        session.commit()
        return org


def _request_settings(engine: Engine) -> Settings:
    """The environment's settings (``ASTERI_*``: the request path's role and guard, as the
    server has them) for the database ``engine`` reaches. Read afresh: ``get_settings`` would
    keep them for the rest of the process, past any later change of the environment."""
    return Settings(database_url=engine.url.render_as_string(hide_password=False))


class _OperatorLoop:
    """One event loop for the process's operator actions, and one request-path database per
    configuration, kept from one action to the next: a fresh engine's first connection costs
    about three times the change itself, and the tests' factories issue thousands of keys.
    One thread at a time; closed at exit."""

    def __init__(self) -> None:
        self._runner: asyncio.Runner | None = None
        self._databases: dict[tuple[str, str | None, bool], Database] = {}

    def run(
        self, settings: Settings, principal: Principal, work: Callable[[UnitOfWork], Awaitable[T]]
    ) -> T:
        if self._runner is None:
            self._runner = asyncio.Runner()
            atexit.register(self.close)
        return self._runner.run(self._in_one_transaction(settings, principal, work))

    async def _in_one_transaction(
        self, settings: Settings, principal: Principal, work: Callable[[UnitOfWork], Awaitable[T]]
    ) -> T:
        config = (settings.database_url, settings.database_role, settings.tenant_filter)
        database = self._databases.get(config)
        if database is None:
            database = self._databases[config] = request_database(settings)
        store = RequestStore(database)
        store.tenant = tenant(principal)  # the write transaction's row-security settings
        try:
            # No request id: the audit trail tells operator changes from requests by it.
            result = await work(UnitOfWork(store, principal, None))
            await store.session.commit()
            return result
        finally:
            await store.close()  # uncommitted (a refusal): rolled back, nothing recorded

    def close(self) -> None:
        if self._runner is not None:
            for database in self._databases.values():
                self._runner.run(database.dispose())
            self._databases.clear()
            self._runner.close()
            self._runner = None


_LOOP = _OperatorLoop()


def _as_operator(
    engine: Engine, principal: Principal, work: Callable[[UnitOfWork], Awaitable[T]]
) -> T:
    return _LOOP.run(_request_settings(engine), principal, work)


def _in_organization(engine: Engine, organization_id: str, environment: Environment) -> Principal:
    """The operator's one read across tenants: which organization the id names."""
    missing = NotFound(f"No organization with id `{organization_id}`.")
    if "\x00" in organization_id:  # not an id we issued (and not storable text)
        raise missing
    with Session(engine) as session:
        org_pk = session.scalar(
            select(col(Organization.id)).where(col(Organization.public_id) == organization_id)
        )
    if org_pk is None:
        raise missing
    return operator(org_pk, organization_id, environment)


def _of_key(engine: Engine, key_id: str) -> Principal:
    """The operator's one read across tenants: the key's organization and environment."""
    missing = NotFound(f"No API key with id `{key_id}`.")
    if "\x00" in key_id:
        raise missing
    with Session(engine) as session:
        found = session.execute(
            select(
                col(ApiKey.organization_id), col(Organization.public_id), col(ApiKey.environment)
            )
            .join(Organization, col(Organization.id) == col(ApiKey.organization_id))
            .where(col(ApiKey.public_id) == key_id)
        ).first()
    if found is None:
        raise missing
    org_pk, org_id, environment = found
    return operator(org_pk, org_id, Environment(environment))


@dataclass(frozen=True)
class KeyRequest:
    organization_id: str
    scopes: list[str]
    environment: Environment = Environment.LIVE
    expires_in: timedelta = timedelta(days=90)
    name: str = "API key"
    persisted_only: bool = False
    per_minute: int = DEFAULT_PER_MINUTE
    per_day: int = DEFAULT_PER_DAY


def create_key(engine: Engine, request: KeyRequest, *, pepper: str) -> IssuedKey:
    """Also an organization's first key, which no person's session could issue yet."""
    values: dict[str, Any] = {
        "name": request.name,
        "scopes": request.scopes,
        "expires_in": int(request.expires_in.total_seconds()),
        "per_minute": request.per_minute,
        "per_day": request.per_day,
        "persisted_only": request.persisted_only,
    }  # the environment is the principal's: not an audited field, as the CLI always recorded

    async def work(uow: UnitOfWork) -> IssuedKey:
        return await keys.create(uow, values, pepper=pepper, snapshot=snapshot)

    principal = _in_organization(engine, request.organization_id, request.environment)
    return _as_operator(engine, principal, work)


def list_keys(engine: Engine, organization_id: str) -> list[Any]:
    """Every key of the organization, both environments, revoked and expired too, oldest
    first: the security center's list, read to its end."""

    async def work(uow: UnitOfWork) -> list[Any]:
        rows: list[Any] = []
        after: str | None = None
        while True:
            page = await keys.list_api_keys(uow, first=_PAGE, after=after)
            rows += page.items
            if not page.has_next_page:
                return rows[::-1]
            after = page.end_cursor

    principal = _in_organization(engine, organization_id, Environment.LIVE)
    return _as_operator(engine, principal, work)


def revoke_key(engine: Engine, key_id: str) -> ApiKey:
    """Revoke now, also during a rotation's overlap; an already revoked key is left as it is."""

    async def work(uow: UnitOfWork) -> ApiKey:
        return await keys.revoke(uow, key_id, snapshot)

    return _as_operator(engine, _of_key(engine, key_id), work)


def rotate_key(engine: Engine, key_id: str, *, overlap: timedelta, pepper: str) -> RotatedKey:
    """A new secret with the old key's policy; the old key works ``overlap`` longer."""

    async def work(uow: UnitOfWork) -> RotatedKey:
        return await keys.rotate(uow, key_id, overlap=overlap, pepper=pepper, snapshot=snapshot)

    return _as_operator(engine, _of_key(engine, key_id), work)


def update_key(engine: Engine, key_id: str, **changes: Any) -> ApiKey:
    """Change a key's name, scopes or limits (only those given)."""

    async def work(uow: UnitOfWork) -> ApiKey:
        return await keys.update(uow, key_id, changes, snapshot)

    return _as_operator(engine, _of_key(engine, key_id), work)
