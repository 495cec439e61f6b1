"""Baseline for the benchmark: the cheapest honest Python version of the GraphQL point read.

A bare FastAPI ``async def`` handler, psycopg's ``AsyncConnectionPool`` in autocommit mode and
orjson: one SQL statement that reads the same customer the GraphQL query reads (same tenant
filter: organization, environment, not deleted) and answers the same JSON shape. It accepts the
same request body as the GraphQL endpoint (it reads ``variables.id`` and ignores the query), so
the load generator sends byte-identical requests to both.

What it leaves out on purpose (that is what the ratio measures): API-key authentication, GraphQL
parse/validate/execute, the ORM, the request-id middleware.

Served by ``benchmarks/run.py`` as
``uvicorn baseline_app:app --app-dir benchmarks`` with ``ASTERI_DATABASE_URL`` set.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from psycopg_pool import AsyncConnectionPool

POINT_READ = """
SELECT c.public_id, c.display_name, c.emails
FROM customers AS c
JOIN organizations AS o ON o.id = c.organization_id
WHERE o.public_id = %s AND c.environment = 'live' AND c.public_id = %s AND c.deleted_at IS NULL
"""


def _conninfo() -> str:
    url = os.environ["ASTERI_DATABASE_URL"]
    # psycopg takes libpq URLs; drop a SQLAlchemy driver suffix if one is there.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = AsyncConnectionPool(
        _conninfo(), min_size=10, max_size=10, kwargs={"autocommit": True}, open=False
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


@app.post("/customer")
async def customer(request: Request) -> Response:
    try:
        customer_id = str(orjson.loads(await request.body())["variables"]["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return _json({"errors": [{"message": "expected {variables: {id}}"}]}, 400)
    organization_id = request.headers.get("x-organization-id", "")
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        cursor = await conn.execute(POINT_READ, (organization_id, customer_id))
        row = await cursor.fetchone()
    if row is None:
        return _json({"data": {"customer": None}, "errors": [{"message": "not found"}]}, 404)
    public_id, display_name, emails = row
    return _json(
        {
            "data": {
                "customer": {
                    "id": public_id,
                    "displayName": display_name,
                    "emails": [{"address": e["address"]} for e in emails],
                }
            }
        }
    )
