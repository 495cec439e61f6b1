"""PostgreSQL row-level security: the settings its policies read, and how a transaction gets
them. Defence in depth under the application's tenant filter (``authz/isolation.py``).

Every tenant table has ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` and a policy admitting only
the rows of the organization and environment in the transaction's settings
``asteri.tenant_org`` and ``asteri.tenant_env`` (migration 0009). Request queries run as
``asteri_app``, a role that owns no table, is not a superuser and cannot bypass row security;
when the configured URL is a more privileged user's (as in our tests), every connection is
opened as it (libpq's ``options=-c role=…``: set before the first statement, and no
transaction's rollback can undo it, as it could a ``SET ROLE`` sent on the connection).
Operator tools (migrations, the CLI) run as the URL's own user.

The settings are set per transaction with ``set_config(name, value, true)``, never per
session, so a pooled connection carries nothing from one transaction to the next: a read on
the pool is ``SELECT set_config(…); SELECT …`` sent as one message (one implicit transaction,
one round trip), and a write session sets them as its transaction begins. Their values are
the statement's own tenant bind parameters (``tenant_org``, ``tenant_env``), so the database
admits exactly the rows the application's filter asks for, and nothing when a statement
carries no tenant at all.

Two reads happen before any tenant is known, and their policies are keyed by what only the
rightful caller has: authentication reads a key by the digest of its secret
(``asteri.key_digest``), and a verified session's person reads their own memberships by email
(``asteri.member_email``).
"""

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import Select, func, select

__all__ = [
    "APP_ROLE",
    "BINDS",
    "TENANT_BINDS",
    "connection_options",
    "set_config_select",
    "set_config_sql",
    "setting_values",
    "settings_of",
]

APP_ROLE = "asteri_app"

# The tenant filter's bind parameters, by the column each is compared with.
TENANT_BINDS = {"organization_id": "tenant_org", "environment": "tenant_env"}
# Bind parameter → the transaction setting the policies read (the names migration 0009 uses).
BINDS = {
    "tenant_org": "asteri.tenant_org",
    "tenant_env": "asteri.tenant_env",
    "key_digest": "asteri.key_digest",
    "member_email": "asteri.member_email",
}


def settings_of(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The (setting, text value) pairs a statement with ``params`` runs under."""
    return tuple(
        (setting, str(params[bind]))
        for bind, setting in BINDS.items()
        if params.get(bind) is not None
    )


@cache
def set_config_sql(names: tuple[str, ...]) -> bytes:
    """``SELECT set_config('<name>', %(asteri_setting_<i>)s, true), …; `` for the settings
    ``names``, to send before a statement in one message: PostgreSQL runs the statements of one
    simple-protocol message as one implicit transaction, so the settings hold for exactly that
    statement and vanish with it. The values are parameters (``setting_values``)."""
    calls = ", ".join(
        f"set_config('{name}', %(asteri_setting_{i})s, true)" for i, name in enumerate(names)
    )
    return f"SELECT {calls}; ".encode()


def setting_values(settings: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The parameters of ``set_config_sql``."""
    return {f"asteri_setting_{i}": value for i, (_, value) in enumerate(settings)}


def set_config_select(settings: tuple[tuple[str, str], ...]) -> Select[Any]:
    """The same as a SQLAlchemy statement (sessions, the SQLAlchemy read path)."""
    return select(*(func.set_config(name, value, True) for name, value in settings))


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def connection_options(role: str | None, **settings: str) -> str:
    """libpq ``options`` opening a connection as ``role`` with ``settings`` (PostgreSQL)."""
    if role is not None:
        if not _IDENTIFIER.match(role):
            raise ValueError(f"not a plain role name: {role!r}")
        settings = {**settings, "role": role}
    return " ".join(f"-c {name}={value}" for name, value in settings.items())
