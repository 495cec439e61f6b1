"""Engines for SQLite and PostgreSQL from one URL, and the column types both must agree on."""

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from asteri.kit.row_security import connection_options, set_config_select, settings_of
from asteri.kit.rows import EngineRows, Guard, Params, PoolRows, Rows, SessionRows

__all__ = [
    "Database",
    "RequestStore",
    "UtcDateTime",
    "async_url",
    "create_operator_engine",
    "create_sync_engine",
    "sync_url",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both backends (SQLite drops offsets, so we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def _with_driver(url: str, drivers: dict[str, str]) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database backend {backend!r}: use sqlite or postgresql")
    return parsed.set(drivername=drivers[backend]).render_as_string(hide_password=False)


def async_url(url: str) -> str:
    return _with_driver(url, _ASYNC_DRIVERS)


def sync_url(url: str) -> str:
    return _with_driver(url, _SYNC_DRIVERS)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _engine_kwargs(url: str) -> dict[str, Any]:
    # orjson for JSON columns: contact points and scopes are decoded on every read.
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        kwargs |= {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    return kwargs


def create_sync_engine(url: str) -> Engine:
    """For migrations, the CLI and tests' assertions."""
    engine = create_engine(sync_url(url), **_engine_kwargs(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_operator_engine(url: str) -> AsyncEngine:
    """An async engine as the URL's own user, with no tenant guard: for work that crosses
    tenants on purpose (the webhook worker), as the CLI's sync engine does."""
    engine = create_async_engine(async_url(url), **_engine_kwargs(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """The request path's database: ``rows`` for reads (``kit/rows.py``), sessions for writes.

    ``guard`` sees every statement before it runs, on every path (the engine's
    ``before_execute`` for sessions and Core, the psycopg read path's planner) and may refuse
    it: the tenant guard. It is a required argument so that no request path is built without
    deciding; ``None`` is for operator tools that read across tenants on purpose.
    """

    def __init__(self, url: str, *, guard: Guard | None, role: str | None = None) -> None:
        """``role`` (PostgreSQL): what every connection runs as. Transactions get their
        row-security settings from their statements' tenant parameters (reads) or from the
        tenant their session was opened for (writes; ``kit/row_security.py``)."""
        self.url = url
        kwargs = _engine_kwargs(url)
        if role is not None and make_url(url).get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"options": connection_options(role)}
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        if guard is not None:
            _install_guard(self.engine, guard)
        self.rows: Rows
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            self.rows = EngineRows(self.engine)
        else:
            libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            # The pool's sessions run in UTC, where psycopg's timestamptz values are already
            # aware UTC datetimes: exactly what UtcDateTime makes of them.
            self.rows = PoolRows(
                libpq,
                self.engine.dialect,
                guard=guard,
                role=role,
                raw_types=(UtcDateTime,),
            )
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=_RowSecuritySession
        )

    def new_session(self, tenant: Params | None) -> AsyncSession:
        """A session whose transactions run under the row-security settings of ``tenant``
        (``authz.tenancy.tenant``'s parameters; None: on PostgreSQL it sees no tenant's rows).
        Required, so that no write session is opened without deciding."""
        return self.sessions(info={_ROW_SETTINGS: settings_of(tenant or {})})

    @asynccontextmanager
    async def session(self, tenant: Params | None) -> AsyncIterator[AsyncSession]:
        async with self.new_session(tenant) as session:
            yield session

    @contextmanager
    def observing(self, record: Callable[[str], None]) -> Iterator[None]:
        """Every SQL statement this database sends while the block runs, on either path, goes
        to ``record`` (the statement-count tests and the benchmark's count)."""

        def on_cursor(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            record(statement)

        engine = self.engine.sync_engine
        event.listen(engine, "before_cursor_execute", on_cursor)
        observers = self.rows.observers if isinstance(self.rows, PoolRows) else []
        observers.append(record)
        try:
            yield
        finally:
            observers.remove(record)
            event.remove(engine, "before_cursor_execute", on_cursor)

    async def dispose(self) -> None:
        if isinstance(self.rows, PoolRows):
            await self.rows.close()
        await self.engine.dispose()


_ROW_SETTINGS = "asteri_row_settings"


class _RowSecuritySession(Session):
    """Every transaction begins with the session's row-security settings."""


@event.listens_for(_RowSecuritySession, "after_begin")
def _row_settings_on_begin(session: Session, _transaction: Any, connection: Connection) -> None:
    """Transaction-local, so they end with the transaction (PostgreSQL; SQLite has none)."""
    settings = session.info.get(_ROW_SETTINGS, ())
    if settings and connection.dialect.name == "postgresql":
        connection.execute(set_config_select(settings))


def _install_guard(engine: AsyncEngine, guard: Guard) -> None:
    """Statements (ORM and Core) at ``before_execute``; SQL text sent to the driver as it is
    (``exec_driver_sql``, which skips that event) at the cursor, with its options."""

    def before_execute(
        _conn: Any, statement: Any, _multiparams: Any, _params: Any, _options: Any
    ) -> None:
        guard(statement, None)

    def before_cursor_execute(
        _conn: Any, _cursor: Any, sql: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is not None and context.compiled is None:
            guard(_DriverSql(sql, context.execution_options), None)

    sync = engine.sync_engine
    event.listen(sync, "before_execute", before_execute)
    event.listen(sync, "before_cursor_execute", before_cursor_execute)


@dataclass(frozen=True)
class _DriverSql:
    """SQL text on its way to the driver, with its execution options (for the guard)."""

    sql: str
    _execution_options: Mapping[str, Any]


class RequestStore:
    """One request's way to the database: reads through ``rows``; a session (one transaction)
    opened by the first write and closed with the request. A read request opens none."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._session: AsyncSession | None = None
        # The tenant parameters of the request's caller, once authenticated: its write
        # transaction runs under their row-security settings.
        self.tenant: Params | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.database.new_session(self.tenant)
        return self._session

    @property
    def rows(self) -> Rows:
        """Inside a write, the write's own transaction (it sees its changes); else the pool."""
        return self.database.rows if self._session is None else SessionRows(self._session)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
