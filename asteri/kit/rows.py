"""Reads as plain rows: SQLAlchemy Core builds the statement, the cheapest driver path runs it.

Every read (authentication, point reads, lists) goes through ``Rows``. On PostgreSQL that is
psycopg's own ``AsyncConnectionPool`` in autocommit mode: a statement is compiled once per
shape (SQLAlchemy's cache key), then each call only fills in its parameters and applies the
column types' result processors (e.g. ``UtcDateTime``). SQLAlchemy's async layer costs about
1 ms of CPU per statement on our machines against ~0.15 ms for psycopg alone (measured on our
2-core machines; see the README's Performance section); reads are most of the traffic, so they
skip it. Writes keep the ORM
session and its transaction.

Rows are named tuples whose fields are the selected columns' keys, so the DTOs' ``from_row``
reads them exactly as it reads ORM objects. Inside a write transaction reads use the session
(``SessionRows``) and see its own uncommitted changes. SQLite runs through SQLAlchemy, with the
same row shape. On PostgreSQL a read carries its transaction's row-security settings
(``kit/row_security.py``) in the same message.
"""

import asyncio
from abc import ABC, abstractmethod
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from psycopg import AsyncClientCursor, AsyncConnection, AsyncCursor
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from asteri.kit.row_security import (
    connection_options,
    set_config_select,
    set_config_sql,
    setting_values,
    settings_of,
)

__all__ = ["EngineRows", "PoolRows", "Rows", "SessionRows"]

Params = Mapping[str, Any]
Processor = Callable[[Any], Any]
# Refuses a statement (raises) before it runs: the tenant guard (``authz/isolation.py``). Given
# the statement's cache key when there is one, so it can decide once per shape.
Guard = Callable[[Any, Any], None]


class Rows(Protocol):
    async def one(self, statement: Select[Any], params: Params) -> Any | None:
        """The first row, or None."""
        ...

    async def all(self, statement: Select[Any], params: Params) -> list[Any]: ...


class _SqlAlchemyRows(ABC):
    """Rows through a SQLAlchemy connection or session (SQLite; reads inside a write)."""

    @abstractmethod
    async def _rows(self, statement: Select[Any], params: Params) -> Sequence[Any]:
        """Every row of the statement, buffered (the connection may go back to its pool)."""

    async def one(self, statement: Select[Any], params: Params) -> Any | None:
        rows = await self._rows(statement, params)
        return _row_type(statement).from_row(rows[0] if rows else None)

    async def all(self, statement: Select[Any], params: Params) -> list[Any]:
        row_type = _row_type(statement)
        return [row_type.make(r) for r in await self._rows(statement, params)]


class EngineRows(_SqlAlchemyRows):
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _rows(self, statement: Select[Any], params: Params) -> Sequence[Any]:
        async with self.engine.connect() as connection:
            settings = settings_of(params)
            if settings and connection.dialect.name == "postgresql":
                # The transaction's row-security settings first (see kit/row_security.py).
                await connection.execute(set_config_select(settings))
            result = await connection.execute(statement, dict(params))
            return list(result.all())


class SessionRows(_SqlAlchemyRows):
    """Reads inside a write: the session's transaction, so they see its own changes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, statement: Select[Any], params: Params) -> Sequence[Any]:
        await self.session.flush()  # what the session would autoflush before a query
        # Core on the session's connection: columns, not ORM entities.
        connection = await self.session.connection()
        result = await connection.execute(statement, dict(params))
        return list(result.all())


@dataclass(frozen=True)
class _RowType:
    """A named tuple class for one statement's columns (one per shape, cached)."""

    cls: Any

    def make(self, values: Sequence[Any]) -> Any:
        return self.cls._make(values)

    def from_row(self, row: Sequence[Any] | None) -> Any | None:
        return None if row is None else self.cls._make(row)


_ROW_TYPES: dict[tuple[str, ...], _RowType] = {}


def _row_type(statement: Select[Any]) -> _RowType:
    keys = tuple(statement.selected_columns.keys())
    found = _ROW_TYPES.get(keys)
    if found is None:
        found = _ROW_TYPES[keys] = _RowType(namedtuple("Row", keys))
    return found


@dataclass(frozen=True)
class _Plan:
    """One statement shape compiled for psycopg: SQL text, parameter and result processing.

    A shape with late-rendered parameters (``IN`` lists: ``expanding``) is rendered again for
    each call's values (``construct_expanded_state``), as SQLAlchemy itself does."""

    compiled: SQLCompiler
    sql: bytes
    binds: tuple[tuple[str, Processor], ...]
    results: tuple[tuple[int, Processor], ...]
    row_type: _RowType
    dialect: Dialect
    expanding: bool

    def statement(
        self, statement: Select[Any], cache_key: Any, params: Params
    ) -> tuple[bytes, Mapping[str, Any]]:
        """The SQL and driver parameters for one call."""
        if self.expanding:
            # Compiled for this very statement, so its own literal values are the ones bound.
            compiled = statement.compile(dialect=self.dialect)
            assert isinstance(compiled, SQLCompiler)
            state = compiled.construct_expanded_state(dict(params))
            processors = state.processors
            expanded = {
                name: processors[name](v) if name in processors else v
                for name, v in state.parameters.items()
            }
            return state.statement.encode(), expanded
        values = self.compiled.construct_params(
            params=dict(params), extracted_parameters=cache_key.bindparams
        )
        for name, process in self.binds:
            values[name] = process(values[name])
        return self.sql, values

    def row(self, values: tuple[Any, ...]) -> Any:
        if self.results:
            out = list(values)
            for index, process in self.results:
                out[index] = process(out[index])
            return self.row_type.make(out)
        return self.row_type.make(values)


def _plan(
    statement: Select[Any], cache_key: Any, dialect: Dialect, raw_types: tuple[type, ...]
) -> _Plan:
    compiled = statement.compile(dialect=dialect, cache_key=cache_key)
    assert isinstance(compiled, SQLCompiler)
    expanding = bool(compiled.literal_execute_params or compiled.post_compile_params)
    binds = []
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds.append((compiled.escaped_bind_names.get(name, name), process))
    results = []
    for index, column in enumerate(statement.selected_columns):
        if isinstance(column.type, raw_types):
            continue
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            results.append((index, process))
    return _Plan(
        compiled,
        compiled.string.encode(),
        tuple(binds),
        tuple(results),
        _row_type(statement),
        dialect,
        expanding or cache_key is None,
    )


async def _configure(connection: AsyncConnection[Any]) -> None:
    set_json_loads(orjson.loads, connection)  # JSON columns: orjson, as the engine does


class PoolRows:
    """PostgreSQL reads on psycopg's pool, every statement shape planned once."""

    def __init__(
        self,
        conninfo: str,
        dialect: Dialect,
        *,
        guard: Guard | None,
        role: str | None = None,
        max_size: int = 16,
        raw_types: tuple[type, ...] = (),
    ) -> None:
        """``guard`` sees every statement shape before it is planned. ``raw_types``: column
        types whose values psycopg already returns as the type would make them on these
        connections (so their result processor is skipped). ``role``: what every connection
        runs as (``kit/row_security.py``)."""
        self.guard = guard
        self.dialect = dialect
        self.raw_types = raw_types
        self.pool = AsyncConnectionPool(
            conninfo,
            min_size=min(2, max_size),  # grows under load (two statements per request)
            max_size=max_size,
            # Timestamps in UTC, one statement per transaction: a read needs no BEGIN/COMMIT.
            kwargs={"autocommit": True, "options": connection_options(role, timezone="UTC")},
            configure=_configure,
            open=False,
        )
        self._plans: dict[Any, _Plan] = {}
        self.observers: list[Callable[[str], None]] = []  # see Database.observing
        self._opened = False
        self._opening = asyncio.Lock()

    async def _fetch(self, statement: Select[Any], params: Params, *, first: bool) -> Any:
        cache_key = statement._generate_cache_key()
        plan = None if cache_key is None else self._plans.get(cache_key.key)
        if plan is None:
            if self.guard is not None:
                self.guard(statement, cache_key)  # once per shape: a refusal plans nothing
            plan = _plan(statement, cache_key, self.dialect, self.raw_types)
            if cache_key is not None:
                self._plans[cache_key.key] = plan
        if not self._opened:
            await self._open()
        if self.observers:
            for observe in self.observers:
                observe(plan.compiled.string)
        sql, values = plan.statement(statement, cache_key, params)
        settings = settings_of(params)
        async with self.pool.connection() as connection:
            if settings:
                # The row-security settings and the read in one message: one implicit
                # transaction, one round trip (bound client-side, as the simple protocol
                # that allows two statements in a message requires).
                names = tuple(name for name, _ in settings)
                cursor: AsyncCursor[Any] = AsyncClientCursor(connection)
                await cursor.execute(
                    set_config_sql(names) + sql, {**values, **setting_values(settings)}
                )
                cursor.nextset()  # past set_config's row, to the read's
            else:
                cursor = await connection.execute(sql, values)
            if first:
                row = await cursor.fetchone()
                return None if row is None else plan.row(row)
            return [plan.row(r) for r in await cursor.fetchall()]

    async def one(self, statement: Select[Any], params: Params) -> Any | None:
        return await self._fetch(statement, params, first=True)

    async def all(self, statement: Select[Any], params: Params) -> list[Any]:
        result: list[Any] = await self._fetch(statement, params, first=False)
        return result

    async def _open(self) -> None:
        async with self._opening:
            if not self._opened:
                await self.pool.open(wait=True)
                self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self.pool.close()
            self._opened = False
