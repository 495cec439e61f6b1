"""``make bench-auth``: what authentication plus rate limiting costs per request, as a share of
a REST point read, with the in-process limiter and with Redis.

Runs in one process, against the PostgreSQL of our machines (``BENCH_POSTGRES_URL``) and Redis
(``BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/0``, keys under a unique prefix deleted
at the end): it creates a database, migrates it, creates a key and a customer, then calls the
app in process (ASGI, no HTTP server, so the numbers are the API's own work) sequentially and
measures, per request, CPU time (``time.process_time``) and wall time:

- ``point read``: ``GET /api/public/v1/customers/{id}``, the whole request;
- ``auth + limit (cached key)``: ``open_context`` + ``finish`` for that request with the key
  served by the key cache (what a warm REST read pays: key checks, HMAC, cache, limiter);
- ``auth + limit (database)``: the same with the key looked up in the database (writes,
  free-text GraphQL, a cold cache).

Each for the in-process limiter and for Redis (one Lua call per request). It prints the table
and the shares; ``benchmarks/results/auth_cost.json`` keeps them. Settings: ``BENCH_ROUNDS``
(3000 requests per measurement).
"""

import asyncio
import json
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (benchmarks/run.py: database helpers)

from asteri.app import create_app  # noqa: E402
from asteri.kit.naming import snake_keys  # noqa: E402
from asteri.kit.settings import Settings  # noqa: E402
from asteri.schema.context import open_context  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3000"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _scope(path: str, headers: list[tuple[bytes, bytes]], method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


async def _call(app: Any, scope: dict[str, Any], body: bytes = b"") -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def _measure(call: Callable[[], Awaitable[None]]) -> dict[str, float]:
    for _ in range(200):  # warm: pools, caches, prepared statements
        await call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(ROUNDS):
        await call()
    return {
        "cpu_us": round((time.process_time() - cpu) / ROUNDS * 1e6, 1),
        "wall_us": round((time.perf_counter() - wall) / ROUNDS * 1e6, 1),
    }


async def _limiter_run(settings: Settings, cred: run.Credential, customer: str) -> dict[str, Any]:
    from starlette.requests import Request

    app = create_app(settings)
    headers = [(k.encode(), v.encode()) for k, v in cred.headers().items()]
    path = f"{run.CUSTOMERS_PATH}/{customer}"
    async with app.router.lifespan_context(app):

        async def point_read() -> None:
            status, body = await _call(app, _scope(path, headers))
            assert status == 200, body

        def auth(cached: bool) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                scope = _scope(path, headers)
                scope["app"] = app
                context = await open_context(Request(scope), cached=cached)
                assert context.principal.actor_id  # authenticated, within the budget
                await context.finish()

            return step

        return {
            "point read": await _measure(point_read),
            "auth + limit (cached key)": await _measure(auth(True)),
            "auth + limit (database)": await _measure(auth(False)),
        }


async def _seed(settings: Settings, cred: run.Credential) -> str:
    app = create_app(settings)
    headers = [(k.encode(), v.encode()) for k, v in cred.headers().items()]
    headers.append((b"content-type", b"application/json"))
    async with app.router.lifespan_context(app):
        status, body = await _call(
            app,
            _scope(run.CUSTOMERS_PATH, headers, method="POST"),
            json.dumps(snake_keys(run.customer_input(0))).encode(),
        )
    assert status == 201, body
    return str(json.loads(body)["id"])


def main() -> int:
    name = f"asteri_authcost_{os.getpid()}_{secrets.token_hex(3)}"
    url = run.create_database(name)
    prefix = f"asteri-authcost-{secrets.token_hex(4)}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
        cred = run.provision(url)
        base = Settings(database_url=url)
        customer = asyncio.run(_seed(base, cred))
        results = {
            "in-process limiter": asyncio.run(_limiter_run(base, cred, customer)),
            "Redis limiter": asyncio.run(
                _limiter_run(
                    base.model_copy(update={"redis_url": REDIS_URL, "redis_prefix": prefix}),
                    cred,
                    customer,
                )
            ),
        }
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        run.drop_database(name)
    print(f"\nPer request, in process, {ROUNDS} sequential requests each (PostgreSQL):\n")
    print(f"{'limiter':<20} {'measurement':<28} {'CPU µs':>8} {'wall µs':>9} {'CPU share':>10}")
    for limiter, rows in results.items():
        read = rows["point read"]["cpu_us"]
        for label, numbers in rows.items():
            share = "" if label == "point read" else f"{100 * numbers['cpu_us'] / read:.0f} %"
            print(
                f"{limiter:<20} {label:<28} {numbers['cpu_us']:>8} {numbers['wall_us']:>9}"
                f" {share:>10}"
            )
    print(
        "\nCPU share: the step's CPU over the whole point read's CPU (the read includes the step)."
        "\nWall time includes waiting for PostgreSQL and Redis; CPU is what limits throughput."
    )
    run.RESULTS.mkdir(exist_ok=True)
    (run.RESULTS / "auth_cost.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
