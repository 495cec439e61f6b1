"""``make bench``: the public API's REST and GraphQL reads beside two baselines, in one run.

One run, on the PostgreSQL of our machines (``BENCH_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``, used only to create and drop a database):

1. creates a uniquely named database, migrates it, creates an organization and an all-scopes
   key, and seeds 60 customers (2 emails, 1 phone, 1 address, 2 tags each) by POSTing the
   ``createCustomer`` mutation to the real server;
2. serves, each with its own ``uvicorn --workers 1`` on the same database:
   the API (``asteri.app:create_app``); the bare baseline (``benchmarks/baseline_app.py``:
   FastAPI + psycopg AsyncConnectionPool + orjson, one SQL statement per request, the REST
   facade's paths and JSON bodies); and strawberry's default path
   (``benchmarks/strawberry_default_app.py``: the same resolvers and ``get_context`` in a plain
   ``strawberry.Schema`` with no extensions, so every request is parsed and validated);
3. checks a few warm-up requests per scenario (HTTP 200, no ``errors``, the expected data) and
   that each baseline answers exactly what the API answers (REST point read and list vs the bare
   handlers; the persisted GetCustomer vs strawberry's default path): any failure aborts the
   run; counts the SQL statements one request of each API scenario executes, in this process
   (``asteri.app.create_app`` with ``Database.observing``, which sees the read pool and the
   write engine; BEGIN and ROLLBACK, which psycopg sends itself, are not counted);
4. drives each scenario with ``wrk`` (fixed connections, threads and duration, after
   ``BENCH_WARMUP`` seconds of unmeasured load; ``post.lua`` sends the GET paths or POST bodies
   and headers and counts non-2xx answers and ``errors`` members):

   - ``bare point read`` / ``rest point read``: ``GET /api/public/v1/customers/{id}``, 60 ids;
   - ``graphql persisted point read``: GetCustomer by sha256 only (no query text);
   - ``graphql text point read``: a free-text query (parsed; validation cache);
   - ``strawberry default point read``: GetCustomer's text, parsed and validated every time;
   - ``bare list 50`` / ``rest list 50``: ``GET /api/public/v1/customers?limit=50``;
   - ``graphql persisted list 50``: ListCustomers by sha256, ``first: 50``;

5. prints a table (requests/s, p50, p99, SQL statements per request, CPU: the server process's,
   and what processes outside the benchmark used meanwhile) and the issue's ratios, each with its
   target and PASS/FAIL, and writes it all, with wrk's raw output, as JSON to
   ``benchmarks/results/latest.json`` (server logs beside it);
6. always stops the servers and drops the database, on success, failure or Ctrl-C.

A run in which any request failed (non-2xx, ``errors``, socket error or timeout) is invalid: the
script says so and exits 1. A missed target is a result, not a failure (exit 0). A busy machine
(another test run, say) is reported as a warning and the run is labelled CONTENDED: the servers
are CPU-bound, so anything else on the cores lowers the numbers and skews the ratios.

Settings (environment): ``BENCH_DURATION`` seconds per scenario (10), ``BENCH_CONNECTIONS`` (32),
``BENCH_THREADS`` (2), ``BENCH_WARMUP`` seconds of unmeasured load per scenario (2, 0 to skip),
``BENCH_LOADGEN`` (``wrk``, or ``python`` to force the built-in fallback),
``BENCH_POSTGRES_URL``. Other ``ASTERI_*`` variables (e.g. ``ASTERI_KEY_PEPPER``) pass through to
the servers.

If ``wrk`` is not installed the script tries ``apt-get install -y wrk`` (when running as root;
``BENCH_NO_INSTALL=1`` skips that); if that fails too it falls back to a small asyncio keep-alive
load generator in this file and says so in its output (numbers from it are not comparable with
wrk numbers: it runs in Python on the same cores as the server).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LUA_SCRIPT = HERE / "post.lua"
API_PREFIX = "/api/public/v1"
GRAPHQL_PATH = f"{API_PREFIX}/graphql"
CUSTOMERS_PATH = f"{API_PREFIX}/customers"
STRAWBERRY_PATH = "/graphql"  # strawberry_default_app.GRAPHQL_PATH
HOST = "127.0.0.1"
CUSTOMERS = 60

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
TIMEOUT_S = 5
OTHER_CPU_WARN = 20  # % of one core used outside the benchmark during a run

# The free-text point read (not a persisted document: parsed, then the validation cache).
POINT_READ = "query($id: ID!) { customer(id: $id) { id displayName emails { address } } }"
CREATE_CUSTOMER = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }"


class BenchError(Exception):
    """The benchmark cannot produce valid numbers; the message says why."""


# --------------------------------------------------------------------------------------------
# Small helpers


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds so far: the whole machine's, and the parts the benchmark itself accounts for."""

    at: float
    machine_busy: float  # user + nice + system over all CPUs (/proc/stat)
    machine_total: float
    server: float  # the uvicorn process under test
    postgres: float  # every process named postgres
    ours: float  # this script and its waited-for children (wrk)


def _process_names() -> dict[int, str]:
    names = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                names[int(entry.name)] = (entry / "comm").read_text().strip()
    return names


def cpu_snapshot(server_pid: int | None) -> CpuSnapshot | None:
    """None off Linux (no /proc)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    postgres = sum(
        process_cpu_seconds(pid) or 0.0
        for pid, name in _process_names().items()
        if name.startswith("postgres")
    )
    times = os.times()
    return CpuSnapshot(
        at=time.perf_counter(),
        machine_busy=sum(values[:3]) / _TICKS,
        machine_total=sum(values[:8]) / _TICKS,
        server=(process_cpu_seconds(server_pid) or 0.0) if server_pid else 0.0,
        postgres=postgres,
        ours=times.user + times.system + times.children_user + times.children_system,
    )


def cpu_usage(before: CpuSnapshot | None, after: CpuSnapshot | None) -> dict[str, float | None]:
    """Percent of one core used by each part between two snapshots; ``other`` is everything
    outside the benchmark (another test run on the same machine, say)."""
    if before is None or after is None or after.at <= before.at:
        return {"server": None, "postgres": None, "loadgen": None, "other": None, "busy": None}
    elapsed = after.at - before.at
    server = after.server - before.server
    postgres = after.postgres - before.postgres
    ours = after.ours - before.ours
    busy = after.machine_busy - before.machine_busy
    total = after.machine_total - before.machine_total
    return {
        "server": round(100 * server / elapsed, 1),
        "postgres": round(100 * postgres / elapsed, 1),
        "loadgen": round(100 * ours / elapsed, 1),
        "other": round(max(0.0, 100 * (busy - server - postgres - ours) / elapsed), 1),
        "busy": round(100 * busy / total, 1) if total else None,
    }


def other_cpu_users(exclude: set[int], seconds: float = 1.0) -> list[dict[str, Any]]:
    """Processes (not ours) that used more than 10 % of a core over ``seconds``."""

    def sample() -> dict[int, tuple[str, float]]:
        found = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) not in exclude:
                cpu = process_cpu_seconds(int(entry.name))
                if cpu is not None:
                    with suppress(OSError):
                        found[int(entry.name)] = ((entry / "comm").read_text().strip(), cpu)
        return found

    if not Path("/proc/stat").exists():
        return []
    first = sample()
    time.sleep(seconds)
    users = []
    for pid, (comm, cpu) in sample().items():
        if pid in first:
            pct = 100 * (cpu - first[pid][1]) / seconds
            if pct > 10:
                users.append({"pid": pid, "command": comm, "cpu_pct": round(pct)})
    return sorted(users, key=lambda u: -u["cpu_pct"])


def post_json(
    url: str, payload: dict[str, Any] | None, headers: dict[str, str], timeout: float = 10.0
) -> tuple[int, Any]:
    """POST JSON (GET when ``payload`` is None); return (status, parsed body or raw text).
    Never raises on an HTTP status."""
    request = urllib.request.Request(  # noqa: S310 (always http://127.0.0.1)
        url,
        data=None if payload is None else json.dumps(payload).encode(),
        headers={
            "accept": "application/json",
            **({} if payload is None else {"content-type": "application/json"}),
            **headers,
        },
        method="GET" if payload is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


# --------------------------------------------------------------------------------------------
# Database: create, provision, drop


def database_url(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(name: str) -> str:
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise BenchError(f"cannot create a database through {ADMIN_URL}: {exc}") from exc
    return database_url(name)


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@dataclass(frozen=True)
class Credential:
    organization_id: str
    key: str

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key, "x-organization-id": self.organization_id}


def provision(url: str) -> Credential:
    """Migrate, then an organization and a live all-scopes key, the way the CLI does it."""
    from asteri.admin import MAX_LIMIT, KeyRequest, create_key, create_organization
    from asteri.authz.scopes import Scope
    from asteri.kit.db import create_sync_engine
    from asteri.kit.settings import Settings
    from asteri.migrations import upgrade
    from asteri.models import Environment

    upgrade(url)
    settings = Settings(database_url=url)
    engine = create_sync_engine(url)
    try:
        org = create_organization(engine, "Benchmark Field Services")
        issued = create_key(
            engine,
            KeyRequest(
                organization_id=org.public_id,
                scopes=sorted(s.value for s in Scope),
                environment=Environment.LIVE,
                expires_in=timedelta(days=1),
                name="benchmark key",
                # The load must measure the API, not trip its limiter (which still runs).
                per_minute=MAX_LIMIT,
                per_day=MAX_LIMIT,
            ),
            pepper=settings.key_pepper.get_secret_value(),
        )
    finally:
        engine.dispose()
    return Credential(org.public_id, issued.secret)


def customer_input(i: int) -> dict[str, Any]:
    return {
        "displayName": f"Bench Customer {i:02d}",
        "givenName": f"Given{i:02d}",
        "familyName": "Benchmark",
        "emails": [
            {"address": f"customer{i:02d}@example.com", "label": "home", "primary": True},
            {"address": f"billing{i:02d}@example.com", "label": "billing"},
        ],
        "phones": [{"number": f"+1 512 555 {1000 + i:04d}", "label": "mobile", "primary": True}],
        "addresses": [
            {
                "line1": f"{100 + i} Congress Ave",
                "city": "Austin",
                "region": "TX",
                "postalCode": "78701",
                "country": "US",
                "primary": True,
            }
        ],
        "tags": ["residential" if i % 2 else "commercial", f"zone-{i % 4}"],
    }


def seed(graphql_url: str, cred: Credential) -> list[str]:
    """60 customers through the API's own write path (validation, audit, events)."""
    ids: list[str] = []
    for i in range(CUSTOMERS):
        status, body = post_json(
            graphql_url,
            {"query": CREATE_CUSTOMER, "variables": {"input": customer_input(i)}},
            cred.headers(),
        )
        if status != 200 or not isinstance(body, dict) or body.get("errors"):
            raise BenchError(f"seeding customer {i} failed: HTTP {status}: {str(body)[:500]}")
        ids.append(body["data"]["createCustomer"]["id"])
    return ids


# --------------------------------------------------------------------------------------------
# Servers


@dataclass
class Server:
    name: str
    args: list[str]
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: Any = None

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603
            self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log_tail(self, lines: int = 30) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def wait_ready(self, path: str, probe: dict[str, Any], timeout: float = 30.0) -> None:
        """Until the server answers ``probe`` on ``path`` (any HTTP status)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                post_json(f"http://{HOST}:{self.port}{path}", probe, {}, timeout=2.0)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise BenchError(f"{self.name} server did not answer within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def exceptions_logged(self) -> dict[str, int]:
        """Exception types ending the tracebacks in the server log, with their counts."""
        counts: dict[str, int] = {}
        in_traceback = False
        with suppress(OSError):
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith("Traceback (most recent call last):"):
                    in_traceback = True
                elif in_traceback and line and not line.startswith(" "):
                    name = line.split(":", 1)[0].strip()
                    counts[name] = counts.get(name, 0) + 1
                    in_traceback = False
        return counts


def uvicorn_args(app: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        *extra,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]


# --------------------------------------------------------------------------------------------
# Scenarios and their warm-up checks


@dataclass
class Scenario:
    """One measured load: ``payloads`` are JSON bodies POSTed to ``path``, or (GET) the paths
    themselves, with their query strings; the load generator rotates through them."""

    key: str  # the short name the ratios use
    name: str
    label: str
    server: Server
    method: str  # GET or POST
    path: str
    payloads: list[Any]
    check: Callable[[dict[str, Any], Any], str | None]

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.server.port}"

    @property
    def url(self) -> str:
        """What wrk is given: the POST endpoint, or (GET) the first path."""
        return self.base + (self.payloads[0] if self.method == "GET" else self.path)

    def call(self, payload: Any, cred: Credential) -> tuple[int, Any]:
        if self.method == "GET":
            return post_json(self.base + payload, None, cred.headers())
        return post_json(self.base + self.path, payload, cred.headers())


def _shape_problem(customer: dict[str, Any]) -> str | None:
    shape = tuple(len(customer[k]) for k in ("emails", "phones", "addresses", "tags"))
    if shape != (2, 1, 1, 2):
        return f"customer {customer['id']} has (emails, phones, addresses, tags) = {shape}"
    return None


def check_graphql_point(body: dict[str, Any], sent: dict[str, Any]) -> str | None:
    customer = (body.get("data") or {}).get("customer")
    if not customer or customer.get("id") != sent["variables"]["id"]:
        return "point read did not return the requested customer"
    if len(customer.get("emails") or []) != 2:
        return "point read: expected 2 emails"
    return None


def check_graphql_list(body: dict[str, Any], _sent: Any) -> str | None:
    connection = (body.get("data") or {}).get("customers") or {}
    nodes = connection.get("nodes") or []
    if len(nodes) != 50 or connection.get("pageInfo", {}).get("hasNextPage") is not True:
        return f"list: expected 50 nodes and a next page, got {len(nodes)}"
    return next((p for p in map(_shape_problem, nodes) if p), None)


def check_rest_point(body: dict[str, Any], sent: str) -> str | None:
    if body.get("object") != "customer" or body.get("id") != sent.rsplit("/", 1)[1]:
        return "point read did not return the requested customer"
    return _shape_problem(body)


def check_rest_list(body: dict[str, Any], _sent: Any) -> str | None:
    items = body.get("data") or []
    if body.get("object") != "list" or len(items) != 50 or body.get("has_more") is not True:
        return f"list: expected 50 items and has_more, got {len(items)}"
    if not body.get("next_cursor"):
        return "list: no next_cursor"
    return next((p for p in map(_shape_problem, items) if p), None)


def warm_up_check(scenario: Scenario, cred: Credential) -> None:
    """A few requests must succeed completely, or the run is invalid."""
    for sent in scenario.payloads[:3]:
        status, body = scenario.call(sent, cred)
        if status != 200 or not isinstance(body, dict):
            raise BenchError(f"{scenario.name}: warm-up got HTTP {status}: {str(body)[:500]}")
        if body.get("errors"):
            raise BenchError(f"{scenario.name}: warm-up GraphQL errors: {body['errors']}")
        problem = scenario.check(body, sent)
        if problem:
            raise BenchError(f"{scenario.name}: warm-up answer is wrong: {problem}")


# Each baseline must answer what the API answers, or its ratio compares different work.
SAME_ANSWER = (
    ("rest_point", "bare_point"),
    ("rest_list", "bare_list"),
    ("gql_persisted_point", "strawberry_point"),
)


def parity_check(scenarios: dict[str, Scenario], cred: Credential) -> None:
    for api_key, base_key in SAME_ANSWER:
        api, base = scenarios[api_key], scenarios[base_key]
        for api_sent, base_sent in list(zip(api.payloads, base.payloads, strict=True))[:3]:
            _, api_body = api.call(api_sent, cred)
            _, base_body = base.call(base_sent, cred)
            # The data, not the response extensions: ours report the document's cost.
            if isinstance(api_body, dict) and isinstance(base_body, dict):
                api_body, base_body = (
                    api_body.get("data", api_body),
                    base_body.get("data", base_body),
                )
            if api_body != base_body:
                raise BenchError(
                    f"{base.name} does not answer what {api.name} answers:\n"
                    f"  api:      {str(api_body)[:400]}\n  baseline: {str(base_body)[:400]}"
                )


# --------------------------------------------------------------------------------------------
# SQL statements per request, counted in this process


async def _asgi_call(app: Any, scenario: Scenario, payload: Any, cred: Credential) -> int:
    """One request straight into the ASGI app; its status."""
    if scenario.method == "GET":
        path, _, query = str(payload).partition("?")
        body = b""
    else:
        path, query, body = scenario.path, "", json.dumps(payload).encode()
    headers = [
        (b"accept", b"application/json"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in cred.headers().items()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": scenario.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": (HOST, 40000),
        "server": (HOST, 80),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # no disconnect while the response is being produced
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def count_sql(url: str, scenarios: list[Scenario], cred: Credential) -> dict[str, dict[str, Any]]:
    """SQL statements one request executes, per scenario served by an asteri app: the app is
    built here (same code and settings as the server), ``Database.observing`` records what it
    sends on either path (read pool, write engine); the second request is counted (the first
    warms up)."""
    from asteri.app import create_app
    from asteri.kit.settings import Settings

    sys.path.insert(0, str(HERE))
    import strawberry_default_app

    settings = Settings(database_url=url)
    factories = {"asteri": create_app, "strawberry-default": strawberry_default_app.create_app}
    counted: dict[str, dict[str, Any]] = {}

    seen: list[str] = []

    def record(statement: str) -> None:
        seen.append(" ".join(statement.split()))

    async def run() -> None:
        for server_name, factory in factories.items():
            app = factory(settings)
            async with app.router.lifespan_context(app):
                with app.state.database.observing(record):
                    for scenario in scenarios:
                        if scenario.server.name != server_name:
                            continue
                        for attempt in range(2):
                            seen.clear()
                            status = await _asgi_call(app, scenario, scenario.payloads[0], cred)
                            if status != 200:
                                raise BenchError(
                                    f"{scenario.name}: in-process request {attempt + 1} for "
                                    f"counting SQL got HTTP {status}"
                                )
                        counted[scenario.key] = {"statements": len(seen), "sql": list(seen)}

    asyncio.run(run())
    return counted


# --------------------------------------------------------------------------------------------
# Load generators


def find_wrk() -> str | None:
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_INSTALL") == "1":
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is not installed: trying `apt-get install -y wrk`")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

        def apt(*args: str) -> int:
            return subprocess.run(  # noqa: S603
                ["apt-get", *args],  # noqa: S607
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            ).returncode

        if apt("install", "-y", "-q", "wrk") != 0:
            apt("update", "-q")
            apt("install", "-y", "-q", "wrk")
        found = shutil.which("wrk")
        log("wrk installed" if found else "apt-get could not install wrk")
    return found


def wrk_version(wrk: str) -> str:
    out = subprocess.run(  # noqa: S603
        [wrk, "--version"], capture_output=True, text=True, check=False
    )
    first = (out.stdout or out.stderr).splitlines()
    return first[0].strip() if first else "unknown"


def wrk_command(wrk: str, duration: int, url: str) -> list[str]:
    return [
        wrk,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        "--timeout",
        f"{TIMEOUT_S}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]


def run_wrk(wrk: str, scenario: Scenario, cred: Credential, duration: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as bodies:
        for payload in scenario.payloads:
            line = (
                payload if scenario.method == "GET" else json.dumps(payload, separators=(",", ":"))
            )
            bodies.write(line + "\n")
    try:
        env = {
            **os.environ,
            "BENCH_METHOD": scenario.method,
            "BENCH_BODIES": bodies.name,
            "BENCH_API_KEY": cred.key,
            "BENCH_ORG_ID": cred.organization_id,
        }
        command = wrk_command(wrk, duration, scenario.url)
        done = subprocess.run(  # noqa: S603
            command,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=duration + 60,
        )
    finally:
        os.unlink(bodies.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(
            f"{scenario.name}: wrk failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    stats: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    stats["output"] = "\n".join(x for x in done.stdout.splitlines() if x != line)
    return stats


async def _python_worker(
    port: int,
    requests: list[bytes],
    offset: int,
    deadline: float,
    latencies: list[float],
    stats: dict[str, Any],
) -> None:
    index = offset
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < deadline:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                stats["errors"]["connect"] += 1
                await asyncio.sleep(0.05)
                continue
        assert reader is not None
        request = requests[index % len(requests)]
        index += 1
        started = time.perf_counter()
        try:
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if length is None:
                raise BenchError("fallback load generator needs Content-Length responses")
            body = await asyncio.wait_for(reader.readexactly(int(length.group(1))), TIMEOUT_S)
        except TimeoutError:
            stats["errors"]["timeout"] += 1
            writer.close()
            writer = None
            continue
        except (OSError, asyncio.IncompleteReadError):
            stats["errors"]["read"] += 1
            writer.close()
            writer = None
            continue
        latencies.append(time.perf_counter() - started)
        status = int(head.split(b" ", 2)[1])
        bad = False
        if not 200 <= status <= 299:
            stats["non2xx"] += 1
            bad = True
        if b'"errors"' in body:
            stats["graphql_errors"] += 1
            bad = True
        if bad and not stats["first_bad"]:
            stats["first_bad"] = f"{status} {body[:300].decode(errors='replace')}"
    if writer is not None:
        writer.close()


async def _python_load(
    port: int, scenario: Scenario, cred: Credential, duration: int
) -> dict[str, Any]:
    requests = []
    for sent in scenario.payloads:
        if scenario.method == "GET":
            path, payload = sent, b""
        else:
            path, payload = scenario.path, json.dumps(sent, separators=(",", ":")).encode()
        head = (
            f"{scenario.method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "content-type: application/json\r\naccept: application/json\r\n"
            f"x-api-key: {cred.key}\r\nx-organization-id: {cred.organization_id}\r\n"
            f"content-length: {len(payload)}\r\n\r\n"
        )
        requests.append(head.encode() + payload)
    latencies: list[float] = []
    stats: dict[str, Any] = {
        "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
        "non2xx": 0,
        "graphql_errors": 0,
        "first_bad": "",
    }
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(
        *(
            _python_worker(port, requests, i * 7, deadline, latencies, stats)
            for i in range(CONNECTIONS)
        )
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> int:
        return int(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1e6)

    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "max_us": int(ordered[-1] * 1e6),
        "mean_us": sum(ordered) / len(ordered) * 1e6,
        **stats,
        "output": "",
    }


def run_python(scenario: Scenario, cred: Credential, duration: int) -> dict[str, Any]:
    return asyncio.run(_python_load(scenario.server.port, scenario, cred, duration))


# --------------------------------------------------------------------------------------------
# Measuring and reporting


def measure(wrk: str | None, scenario: Scenario, cred: Credential, duration: int) -> dict[str, Any]:
    """One load run, and where the machine's CPU went during it."""
    pid = scenario.server.process.pid if scenario.server.process else None
    before = cpu_snapshot(pid)
    if wrk is not None:
        stats = run_wrk(wrk, scenario, cred, duration)
    else:
        stats = run_python(scenario, cred, duration)
    stats["cpu_pct_of_one_core"] = cpu_usage(before, cpu_snapshot(pid))
    return stats


def problems_of(stats: dict[str, Any]) -> list[str]:
    found = [f"{k} errors: {v}" for k, v in stats["errors"].items() if v]
    if stats["non2xx"]:
        found.append(f"non-2xx responses: {stats['non2xx']}")
    if stats["graphql_errors"]:
        found.append(f"responses with GraphQL errors: {stats['graphql_errors']}")
    if stats["requests"] == 0:
        found.append("no request completed")
    if found and stats.get("first_bad"):
        found.append(f"first bad answer: {stats['first_bad']}")
    return found


def summarize(scenario: Scenario, stats: dict[str, Any], sql: dict[str, Any]) -> dict[str, Any]:
    seconds = stats["duration_us"] / 1e6
    return {
        "key": scenario.key,
        "name": scenario.name,
        "description": scenario.label,
        "server": scenario.server.name,
        "method": scenario.method,
        "url": scenario.url,
        "sql_statements_per_request": sql.get("statements"),
        "sql": sql.get("sql", []),
        "requests": stats["requests"],
        "seconds": round(seconds, 3),
        "requests_per_s": round(stats["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(stats["p50_us"] / 1000, 2),
        "p90_ms": round(stats["p90_us"] / 1000, 2),
        "p99_ms": round(stats["p99_us"] / 1000, 2),
        "max_ms": round(stats["max_us"] / 1000, 2),
        "cpu_pct_of_one_core": stats["cpu_pct_of_one_core"],
        "socket_errors": stats["errors"],
        "non_2xx": stats["non2xx"],
        "graphql_errors": stats["graphql_errors"],
        "problems": problems_of(stats),
        "loadgen_output": stats.get("output", ""),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'name':<31} {'requests/s':>11} {'p50 ms':>9} {'p99 ms':>9} {'SQL/req':>8}"
        f"   {'server CPU':>10} {'other CPU':>10}"
    )
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        statements = row["sql_statements_per_request"]
        server_cpu = row["cpu_pct_of_one_core"]["server"]
        other = row["cpu_pct_of_one_core"]["other"]
        print(
            f"{row['name']:<31} {row['requests_per_s']:>11,.1f} {row['p50_ms']:>9.2f} "
            f"{row['p99_ms']:>9.2f} {statements if statements is not None else '-':>8}"
            f"   {(f'{server_cpu:.0f}%' if server_cpu is not None else '-'):>10}"
            f" {(f'{other:.0f}%' if other is not None else '-'):>10}"
            + ("  INVALID" if row["problems"] else "")
        )
    print()


# The targets, as ratios of requests/s in one run: (what, numerator, denominator, min).
RATIO_TARGETS = (
    ("REST point read / bare point read", "rest_point", "bare_point", 0.65),
    (
        "REST point read / GraphQL persisted point read (facade overhead <= 10 %)",
        "rest_point",
        "gql_persisted_point",
        0.90,
    ),
    (
        "GraphQL persisted point read / strawberry default point read",
        "gql_persisted_point",
        "strawberry_point",
        4.0,
    ),
    ("REST list 50 / bare list 50 (hand-written REST + orjson)", "rest_list", "bare_list", 0.40),
)
# Shown beside them, without a target.
RATIO_INFO = (
    ("GraphQL persisted list 50 / bare list 50", "gql_persisted_list", "bare_list"),
    ("REST list 50 / GraphQL persisted list 50", "rest_list", "gql_persisted_list"),
    (
        "GraphQL text point read / GraphQL persisted point read",
        "gql_text_point",
        "gql_persisted_point",
    ),
)
MAX_LIST_STATEMENTS = 3


def compute_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rps = {row["key"]: row["requests_per_s"] for row in rows}
    found: list[dict[str, Any]] = []
    for what, top, bottom, *target in (*RATIO_TARGETS, *RATIO_INFO):
        value = round(rps[top] / rps[bottom], 3) if rps.get(bottom) else None
        minimum = target[0] if target else None
        passed = None if minimum is None or value is None else value >= minimum
        found.append(
            {
                "what": what,
                "numerator": top,
                "denominator": bottom,
                "ratio": value,
                "target_min": minimum,
                "pass": passed,
            }
        )
    statements = next(r["sql_statements_per_request"] for r in rows if r["key"] == "rest_list")
    found.append(
        {
            "what": "REST list 50: SQL statements per request",
            "numerator": "rest_list",
            "denominator": None,
            "ratio": statements,
            "target_max": MAX_LIST_STATEMENTS,
            "pass": None if statements is None else statements <= MAX_LIST_STATEMENTS,
        }
    )
    return found


def print_ratios(ratios: list[dict[str, Any]]) -> None:
    print("Ratios (requests/s over requests/s, same run):")
    for r in ratios:
        if "target_max" in r:
            value = "-" if r["ratio"] is None else str(r["ratio"])
            target = f"<= {r['target_max']}"
        else:
            value = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
            target = "" if r["target_min"] is None else f">= {r['target_min']:.2f}"
        verdict = {True: "PASS", False: "FAIL", None: ""}[r["pass"]]
        print(f"  {r['what']:<74} {value:>7}  {target:>8}  {verdict}")
    print()


def log_findings(servers: list[Server]) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Exceptions in the server logs; ClientDisconnect is wrk closing its sockets at the end."""
    exceptions = {server.name: server.exceptions_logged() for server in servers}
    notes = []
    for name, counts in exceptions.items():
        for exc, count in counts.items():
            if exc.endswith("ClientDisconnect"):
                notes.append(
                    f"note: {name} server logged {count} {exc} traceback(s): requests still "
                    "queued when the load generator closed its connections at the end of a run "
                    "(not failed requests)"
                )
            else:
                notes.append(f"WARNING: {name} server logged {count} {exc} traceback(s)")
    return exceptions, notes


# --------------------------------------------------------------------------------------------
# Main


@contextmanager
def interrupts_unwind() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so the ``finally`` clean-up always runs."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def choose_load_generator() -> tuple[str | None, str]:
    wrk = find_wrk() if os.environ.get("BENCH_LOADGEN", "wrk") == "wrk" else None
    if wrk is not None:
        return wrk, wrk_version(wrk)
    log(
        "FALLBACK: wrk is unavailable (or BENCH_LOADGEN=python): using the built-in asyncio "
        "load generator; its numbers are NOT comparable with wrk numbers."
    )
    return None, "python asyncio keep-alive client (benchmarks/run.py)"


def start_servers(url: str, servers: list[Server]) -> dict[str, Server]:
    env = {**os.environ, "ASTERI_DATABASE_URL": url}
    specs = {
        "asteri": (("asteri.app:create_app", "--factory"), GRAPHQL_PATH),
        "baseline": (("baseline_app:app", "--app-dir", str(HERE)), CUSTOMERS_PATH),
        "strawberry-default": (
            ("strawberry_default_app:create_app", "--factory", "--app-dir", str(HERE)),
            STRAWBERRY_PATH,
        ),
    }
    started: dict[str, Server] = {}
    for name, ((app, *extra), _probe_path) in specs.items():
        port = free_port()
        server = Server(
            name, uvicorn_args(app, port, *extra), port, env, RESULTS / f"server-{name}.log"
        )
        servers.append(server)  # registered first: the caller's clean-up stops it
        server.start()
        started[name] = server
    for name, (_args, probe_path) in specs.items():
        started[name].wait_ready(probe_path, {"query": "{ __typename }"})
    log("servers up: " + ", ".join(f"{name} on :{server.port}" for name, server in started.items()))
    return started


def build_scenarios(servers: dict[str, Server], ids: list[str]) -> list[Scenario]:
    from asteri.schema import build_schema

    persisted = build_schema().persisted.by_name
    get_customer, list_customers = persisted["GetCustomer"], persisted["ListCustomers"]

    def by_hash(sha256: str, variables: dict[str, Any]) -> dict[str, Any]:
        return {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256}},
            "variables": variables,
        }

    api, bare, default = servers["asteri"], servers["baseline"], servers["strawberry-default"]
    point_paths = [f"{CUSTOMERS_PATH}/{i}" for i in ids]
    list_paths = [f"{CUSTOMERS_PATH}?limit=50"]
    rotating = f"rotating over {len(ids)} ids"
    return [
        Scenario(
            "bare_point",
            "bare point read",
            "baseline: bare FastAPI async + psycopg AsyncConnectionPool (autocommit) + orjson, "
            f"one SELECT, the REST body, no auth; GET {CUSTOMERS_PATH}/{{id}}, {rotating}",
            bare,
            "GET",
            CUSTOMERS_PATH,
            point_paths,
            check_rest_point,
        ),
        Scenario(
            "rest_point",
            "rest point read",
            f"GET {CUSTOMERS_PATH}/{{id}} (persisted GetCustomer via the facade), {rotating}",
            api,
            "GET",
            CUSTOMERS_PATH,
            point_paths,
            check_rest_point,
        ),
        Scenario(
            "gql_persisted_point",
            "graphql persisted point read",
            f"POST {GRAPHQL_PATH}, GetCustomer by sha256 only (no parse, no validate), {rotating}",
            api,
            "POST",
            GRAPHQL_PATH,
            [by_hash(get_customer.sha256, {"id": i}) for i in ids],
            check_graphql_point,
        ),
        Scenario(
            "gql_text_point",
            "graphql text point read",
            f"POST {GRAPHQL_PATH}, free text {POINT_READ!r} (parsed; validation cache), "
            + rotating,
            api,
            "POST",
            GRAPHQL_PATH,
            [{"query": POINT_READ, "variables": {"id": i}} for i in ids],
            check_graphql_point,
        ),
        Scenario(
            "strawberry_point",
            "strawberry default point read",
            "baseline: GetCustomer's text through a plain strawberry.Schema (same resolvers and "
            f"get_context, no extensions: parse + validate every request), {rotating}",
            default,
            "POST",
            STRAWBERRY_PATH,
            [{"query": get_customer.source, "variables": {"id": i}} for i in ids],
            check_graphql_point,
        ),
        Scenario(
            "bare_list",
            "bare list 50",
            "baseline: hand-written FastAPI handler, one SELECT (JSON columns for the child "
            f"lists), psycopg pool + orjson, the REST body, no auth; GET {list_paths[0]}",
            bare,
            "GET",
            CUSTOMERS_PATH,
            list_paths,
            check_rest_list,
        ),
        Scenario(
            "rest_list",
            "rest list 50",
            f"GET {list_paths[0]} (persisted ListCustomers via the facade): 50 customers with "
            "emails, phones, addresses, tags",
            api,
            "GET",
            CUSTOMERS_PATH,
            list_paths,
            check_rest_list,
        ),
        Scenario(
            "gql_persisted_list",
            "graphql persisted list 50",
            f"POST {GRAPHQL_PATH}, ListCustomers by sha256 only, first: 50",
            api,
            "POST",
            GRAPHQL_PATH,
            [by_hash(list_customers.sha256, {"first": 50})],
            check_graphql_list,
        ),
    ]


def contention_warnings(busy_before: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    warnings = []
    if busy_before:
        users = ", ".join(f"{u['command']} (pid {u['pid']}) {u['cpu_pct']}%" for u in busy_before)
        warnings.append(f"processes outside the benchmark used CPU when the load started: {users}")
    for row in rows:
        other = row["cpu_pct_of_one_core"]["other"]
        if other is not None and other > OTHER_CPU_WARN:
            warnings.append(
                f"{row['name']}: processes outside the benchmark used {other:.0f}% of a core "
                f"({os.cpu_count()} cores) during the measurement"
            )
    return warnings


def benchmark(db_name: str, servers: list[Server], wrk: str | None, loadgen: str) -> int:
    url = create_database(db_name)
    log(f"database {db_name} created; migrating and provisioning")
    cred = provision(url)
    started = start_servers(url, servers)
    ids = seed(f"http://{HOST}:{started['asteri'].port}{GRAPHQL_PATH}", cred)
    log(f"seeded {len(ids)} customers through createCustomer")
    scenarios = build_scenarios(started, ids)
    for scenario in scenarios:
        warm_up_check(scenario, cred)
    parity_check({s.key: s for s in scenarios}, cred)
    log("warm-up requests OK (HTTP 200, no errors, expected data; baselines answer the same)")
    sql = count_sql(url, scenarios, cred)
    log(
        "SQL statements per request: "
        + ", ".join(f"{key} {found['statements']}" for key, found in sql.items())
    )

    ours = {os.getpid(), *(s.process.pid for s in servers if s.process)}
    busy_before = other_cpu_users(ours)
    for user in busy_before:
        log(
            f"WARNING: machine not idle: {user['command']} (pid {user['pid']}) uses "
            f"{user['cpu_pct']}% of a core; numbers will be low and noisy"
        )
    command = " ".join(wrk_command(wrk, DURATION, "<url>")) if wrk else "built-in asyncio"
    log(f"load generator: {loadgen}")
    log(f"command: {command}")

    rows = []
    for scenario in scenarios:
        if WARMUP > 0:
            warm = measure(wrk, scenario, cred, WARMUP)
            if problems_of(warm):
                raise BenchError(f"{scenario.name}: warm-up load failed: {problems_of(warm)}")
        log(f"running {scenario.name} for {DURATION}s")
        stats = measure(wrk, scenario, cred, DURATION)
        rows.append(summarize(scenario, stats, sql.get(scenario.key, {})))
    ratios = compute_ratios(rows)

    exceptions, notes = log_findings(servers)
    contention = contention_warnings(busy_before, rows)
    invalid = [r for r in rows if r["problems"]]
    report = {
        "valid": not invalid,
        "contended": bool(contention),
        "contention": contention,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "other_cpu_users_before_load": busy_before,
        },
        "load_generator": loadgen,
        "load_generator_command": command,
        "config": {
            "duration_s": DURATION,
            "warmup_s": WARMUP,
            "connections": CONNECTIONS,
            "threads": THREADS,
            "timeout_s": TIMEOUT_S,
            "customers": len(ids),
            "server": "uvicorn --workers 1 --log-level warning (one per app)",
            "sql_counting": "in-process, SQLAlchemy before_cursor_execute, 2nd request; "
            "BEGIN/ROLLBACK sent by psycopg not counted; baselines: bare = 1 SELECT by "
            "construction (not counted)",
        },
        "results": rows,
        "ratios": ratios,
        "server_log_exceptions": exceptions,
        "notes": notes,
    }
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(report, indent=2) + "\n")

    if contention:
        print("\nCONTENDED RUN: other processes used the CPU; the numbers below are low and noisy.")
    print_table(rows)
    print_ratios(ratios)
    print(
        "CPU in % of one core: server = the uvicorn process under load; other = CPU used "
        "outside the benchmark (not the servers, PostgreSQL or the load generator). SQL/req: "
        "statements one request executes (counted in-process; '-' = not a SQLAlchemy app: the "
        "bare baseline runs one SELECT)."
    )
    print(f"JSON: {out.relative_to(HERE.parent)}")
    for note in notes:
        print(note)
    for warning in contention:
        print(f"WARNING: CONTENDED: {warning}; rerun when the machine is quiet.")
    if invalid:
        for row in invalid:
            print(f"INVALID: {row['name']}: " + "; ".join(row["problems"]), file=sys.stderr)
        print("BENCHMARK INVALID: some requests failed (see above).", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    wrk, loadgen = choose_load_generator()
    db_name = f"asteri_bench_{os.getpid()}_{secrets.token_hex(3)}"
    servers: list[Server] = []
    try:
        return benchmark(db_name, servers, wrk, loadgen)
    except BenchError as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        for server in servers:
            tail = server.log_tail()
            if tail:
                print(f"--- {server.name} server log (tail) ---\n{tail}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        previous_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for server in servers:
            server.stop()
        try:
            drop_database(db_name)  # IF EXISTS: fine when creation never happened
            log(f"database {db_name} dropped")
        except psycopg.Error as exc:
            print(f"WARNING: could not drop database {db_name}: {exc}", file=sys.stderr)
        signal.signal(signal.SIGINT, previous_sigint)


if __name__ == "__main__":
    try:
        with interrupts_unwind():
            sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted (servers stopped, database dropped)", file=sys.stderr)
        sys.exit(130)
