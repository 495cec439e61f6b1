"""Bare baseline for the benchmark: the cheapest honest Python version of the REST reads.

A bare FastAPI ``async def`` handler per route, psycopg's ``AsyncConnectionPool`` in autocommit
mode and orjson (also as psycopg's JSON loader): one SQL statement per request, reading the same
rows the public API reads (same tenant filter: organization, environment, not deleted; the list
also hides archived customers and orders by ``created_at DESC, public_id DESC``), and answering
the same JSON body as the REST facade (every customer field, the ``object`` member, the list
envelope with ``has_more`` and an equal ``next_cursor``). It serves the REST facade's paths, so
the load generator sends identical requests to both:

- ``GET /api/public/v1/customers/{id}``: the REST point read (``GetCustomer``);
- ``GET /api/public/v1/customers?limit=50``: the REST list (``ListCustomers``), the nested
  child lists (emails, phones, addresses, tags) coming from JSON columns in the same row.

What it leaves out on purpose (that is what the ratios measure): API-key authentication, the
GraphQL execution of the persisted operation, the ORM, the request-id and body-limit middleware.

Served by ``benchmarks/run.py`` as
``uvicorn baseline_app:app --app-dir benchmarks`` with ``ASTERI_DATABASE_URL`` set.
"""

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

PREFIX = "/api/public/v1"
COLUMNS = """c.public_id, c.display_name, c.given_name, c.family_name, c.company, c.emails,
c.phones, c.addresses, c.tags, c.notes, c.archived_at, c.created_at, c.updated_at, c.version"""
TENANT = """FROM customers AS c
JOIN organizations AS o ON o.id = c.organization_id
WHERE o.public_id = %s AND c.environment = 'live' AND c.deleted_at IS NULL"""

POINT_READ = f"SELECT {COLUMNS} {TENANT} AND c.public_id = %s"
LIST_PAGE = f"""SELECT {COLUMNS} {TENANT} AND c.archived_at IS NULL
ORDER BY c.created_at DESC, c.public_id DESC
LIMIT %s"""

set_json_loads(orjson.loads)  # the JSON columns: parsed by orjson, not the json module


def _conninfo() -> str:
    url = os.environ["ASTERI_DATABASE_URL"]
    # psycopg takes libpq URLs; drop a SQLAlchemy driver suffix if one is there.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = AsyncConnectionPool(
        _conninfo(),
        min_size=10,
        max_size=10,
        # Timestamps come back in UTC, as the API renders them.
        kwargs={"autocommit": True, "options": "-c timezone=UTC"},
        open=False,
    )
    await pool.open(wait=True)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _customer(row: tuple[Any, ...]) -> dict[str, Any]:
    (
        public_id,
        display_name,
        given_name,
        family_name,
        company,
        emails,
        phones,
        addresses,
        tags,
        notes,
        archived_at,
        created_at,
        updated_at,
        version,
    ) = row
    return {
        "object": "customer",
        "id": public_id,
        "display_name": display_name,
        "given_name": given_name,
        "family_name": family_name,
        "company": company,
        "emails": emails,
        "phones": phones,
        "addresses": addresses,
        "tags": tags,
        "notes": notes,
        "archived": archived_at is not None,
        "archived_at": archived_at,
        "created_at": created_at,
        "updated_at": updated_at,
        "version": version,
    }


def _cursor(created_at: datetime, public_id: str) -> str:
    """The same keyset cursor the API issues for ``CREATED_AT_DESC``."""
    raw = orjson.dumps({"s": "created_at_desc", "v": created_at.isoformat(), "i": public_id})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@app.get(f"{PREFIX}/customers/{{customer_id}}")
async def customer(customer_id: str, request: Request) -> Response:
    organization_id = request.headers.get("x-organization-id", "")
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        cursor = await conn.execute(POINT_READ, (organization_id, customer_id))
        row = await cursor.fetchone()
    if row is None:
        return _json({"status": 404, "detail": f"No customer with id `{customer_id}`."}, 404)
    return _json(_customer(row))


@app.get(f"{PREFIX}/customers")
async def customers(request: Request) -> Response:
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        return _json({"status": 422, "detail": "limit must be between 1 and 100"}, 422)
    organization_id = request.headers.get("x-organization-id", "")
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        cursor = await conn.execute(LIST_PAGE, (organization_id, limit + 1))
        rows = await cursor.fetchall()
    items = rows[:limit]
    last = items[-1] if items else None
    return _json(
        {
            "object": "list",
            "data": [_customer(row) for row in items],
            "has_more": len(rows) > limit,
            "next_cursor": _cursor(last[11], last[0]) if last else None,
        }
    )
