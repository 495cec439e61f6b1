"""``make bench``: throughput and latency of the public GraphQL API against a bare baseline.

One run, on the PostgreSQL of our machines (``BENCH_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``, used only to create and drop a database):

1. creates a uniquely named database, migrates it, creates an organization and an all-scopes
   key, and seeds 60 customers (2 emails, 1 phone, 1 address, 2 tags each) by POSTing the
   ``createCustomer`` mutation to the real server;
2. serves the API with the real ``uvicorn asteri.app:create_app --factory --workers 1``, and the
   baseline (``benchmarks/baseline_app.py``: FastAPI + psycopg AsyncConnectionPool + orjson, one
   SQL point read) with its own uvicorn, both on the same database;
3. checks a few warm-up requests per scenario (HTTP 200, no GraphQL ``errors``, the expected
   data: any failure aborts the run), then drives each scenario with ``wrk`` (fixed connections,
   threads and duration, after ``BENCH_WARMUP`` seconds of unmeasured load; ``post.lua`` sends
   the POST bodies and headers and counts non-2xx answers and GraphQL errors);
4. prints a table (requests/s, p50, p99, throughput ratio vs the baseline, and CPU: the server
   process's, and what processes outside the benchmark used meanwhile) and writes it, with wrk's
   raw output, as JSON to ``benchmarks/results/latest.json`` (server logs beside it);
5. always stops both servers and drops the database, on success, failure or Ctrl-C.

A run in which any request failed (non-2xx, GraphQL error, socket error or timeout) is invalid:
the script says so and exits 1. A busy machine (another test run, say) is reported as a warning:
the servers are CPU-bound, so anything else on the cores lowers the numbers.

Settings (environment): ``BENCH_DURATION`` seconds per scenario (10), ``BENCH_CONNECTIONS`` (32),
``BENCH_THREADS`` (2), ``BENCH_WARMUP`` seconds of unmeasured load per scenario (2, 0 to skip),
``BENCH_LOADGEN`` (``wrk``, or ``python`` to force the built-in fallback),
``BENCH_POSTGRES_URL``. Other ``ASTERI_*`` variables (e.g. ``ASTERI_KEY_PEPPER``) pass through to
the server.

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
GRAPHQL_PATH = "/api/public/v1/graphql"
BASELINE_PATH = "/customer"
HOST = "127.0.0.1"
CUSTOMERS = 60

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
TIMEOUT_S = 5
OTHER_CPU_WARN = 20  # % of one core used outside the benchmark during a run

POINT_READ = "query($id: ID!) { customer(id: $id) { id displayName emails { address } } }"
LIST_50 = (
    "{ customers(first: 50) { nodes { id displayName emails { address primary } "
    "phones { number } addresses { line1 city } tags } pageInfo { hasNextPage } } }"
)
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
    url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float = 10.0
) -> tuple[int, Any]:
    """POST JSON; return (status, parsed body or raw text). Never raises on an HTTP status."""
    request = urllib.request.Request(  # noqa: S310 (always http://127.0.0.1)
        url,
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json", "accept": "application/json", **headers},
        method="POST",
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
    from asteri.admin import KeyRequest, create_key, create_organization
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
    name: str
    label: str
    url: str
    bodies: list[dict[str, Any]]
    check: Callable[[dict[str, Any], dict[str, Any]], str | None]
    server: Server
    baseline: bool = False


def check_point_read(body: dict[str, Any], sent: dict[str, Any]) -> str | None:
    customer = (body.get("data") or {}).get("customer")
    if not customer or customer.get("id") != sent["variables"]["id"]:
        return "point read did not return the requested customer"
    if len(customer.get("emails") or []) != 2:
        return "point read: expected 2 emails"
    return None


def check_list(body: dict[str, Any], _sent: dict[str, Any]) -> str | None:
    connection = (body.get("data") or {}).get("customers") or {}
    nodes = connection.get("nodes") or []
    if len(nodes) != 50 or connection.get("pageInfo", {}).get("hasNextPage") is not True:
        return f"list: expected 50 nodes and a next page, got {len(nodes)}"
    for node in nodes:
        shape = (
            len(node["emails"]),
            len(node["phones"]),
            len(node["addresses"]),
            len(node["tags"]),
        )
        if shape != (2, 1, 1, 2):
            return f"list: customer {node['id']} has (emails, phones, addresses, tags) = {shape}"
    return None


def warm_up_check(scenario: Scenario, cred: Credential) -> None:
    """One request per distinct body shape must succeed completely, or the run is invalid."""
    for sent in scenario.bodies[:3]:
        status, body = post_json(scenario.url, sent, cred.headers())
        if status != 200 or not isinstance(body, dict):
            raise BenchError(f"{scenario.name}: warm-up got HTTP {status}: {str(body)[:500]}")
        if body.get("errors"):
            raise BenchError(f"{scenario.name}: warm-up GraphQL errors: {body['errors']}")
        problem = scenario.check(body, sent)
        if problem:
            raise BenchError(f"{scenario.name}: warm-up answer is wrong: {problem}")


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
        for body in scenario.bodies:
            bodies.write(json.dumps(body, separators=(",", ":")) + "\n")
    try:
        env = {
            **os.environ,
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
    port: int, path: str, scenario: Scenario, cred: Credential, duration: int
) -> dict[str, Any]:
    requests = []
    for body in scenario.bodies:
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
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
    parts = urlsplit(scenario.url)
    assert parts.port is not None
    return asyncio.run(_python_load(parts.port, parts.path, scenario, cred, duration))


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


def summarize(scenario: Scenario, stats: dict[str, Any]) -> dict[str, Any]:
    seconds = stats["duration_us"] / 1e6
    return {
        "name": scenario.name,
        "description": scenario.label,
        "url": scenario.url,
        "requests": stats["requests"],
        "seconds": round(seconds, 3),
        "requests_per_s": round(stats["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(stats["p50_us"] / 1000, 2),
        "p90_ms": round(stats["p90_us"] / 1000, 2),
        "p99_ms": round(stats["p99_us"] / 1000, 2),
        "max_ms": round(stats["max_us"] / 1000, 2),
        "ratio_vs_baseline": None,
        "cpu_pct_of_one_core": stats["cpu_pct_of_one_core"],
        "socket_errors": stats["errors"],
        "non_2xx": stats["non2xx"],
        "graphql_errors": stats["graphql_errors"],
        "problems": problems_of(stats),
        "loadgen_output": stats.get("output", ""),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'name':<22} {'requests/s':>11} {'p50 ms':>9} {'p99 ms':>9} {'vs baseline':>12}"
        f"   {'server CPU':>10} {'other CPU':>10}"
    )
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = row["ratio_vs_baseline"]
        server_cpu = row["cpu_pct_of_one_core"]["server"]
        other = row["cpu_pct_of_one_core"]["other"]
        print(
            f"{row['name']:<22} {row['requests_per_s']:>11,.1f} {row['p50_ms']:>9.2f} "
            f"{row['p99_ms']:>9.2f} {(f'{ratio:.3f}x' if ratio is not None else '-'):>12}"
            f"   {(f'{server_cpu:.0f}%' if server_cpu is not None else '-'):>10}"
            f" {(f'{other:.0f}%' if other is not None else '-'):>10}"
            + ("  INVALID" if row["problems"] else "")
        )
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


def start_servers(url: str, servers: list[Server]) -> tuple[Server, Server]:
    env = {**os.environ, "ASTERI_DATABASE_URL": url}
    api_port, base_port = free_port(), free_port()
    api = Server(
        "asteri",
        uvicorn_args("asteri.app:create_app", api_port, "--factory"),
        api_port,
        env,
        RESULTS / "server-asteri.log",
    )
    base = Server(
        "baseline",
        uvicorn_args("baseline_app:app", base_port, "--app-dir", str(HERE)),
        base_port,
        env,
        RESULTS / "server-baseline.log",
    )
    for server in (api, base):
        servers.append(server)  # registered first: the caller's clean-up stops it
        server.start()
    api.wait_ready(GRAPHQL_PATH, {"query": "{ __typename }"})
    base.wait_ready(BASELINE_PATH, {"variables": {"id": "cus_probe"}})
    log(f"servers up: asteri on :{api_port}, baseline on :{base_port}")
    return api, base


def build_scenarios(api: Server, base: Server, ids: list[str]) -> list[Scenario]:
    point_bodies = [{"query": POINT_READ, "variables": {"id": i}} for i in ids]
    return [
        Scenario(
            "graphql point read",
            "customer(id:) { id displayName emails { address } }, rotating over 60 ids",
            f"http://{HOST}:{api.port}{GRAPHQL_PATH}",
            point_bodies,
            check_point_read,
            api,
        ),
        Scenario(
            "graphql list 50",
            "customers(first: 50) with emails, phones, addresses, tags, pageInfo",
            f"http://{HOST}:{api.port}{GRAPHQL_PATH}",
            [{"query": LIST_50}],
            check_list,
            api,
        ),
        Scenario(
            "baseline point read",
            "bare FastAPI async + psycopg AsyncConnectionPool (autocommit) + orjson, same SQL "
            "filter and JSON shape, no auth, same request bodies",
            f"http://{HOST}:{base.port}{BASELINE_PATH}",
            point_bodies,
            check_point_read,
            base,
            baseline=True,
        ),
    ]


def benchmark(db_name: str, servers: list[Server], wrk: str | None, loadgen: str) -> int:
    url = create_database(db_name)
    log(f"database {db_name} created; migrating and provisioning")
    cred = provision(url)
    api, base = start_servers(url, servers)
    ids = seed(f"http://{HOST}:{api.port}{GRAPHQL_PATH}", cred)
    log(f"seeded {len(ids)} customers through createCustomer")
    scenarios = build_scenarios(api, base, ids)
    for scenario in scenarios:
        warm_up_check(scenario, cred)
    log("warm-up requests OK (HTTP 200, no GraphQL errors, expected data)")

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
        rows.append(summarize(scenario, measure(wrk, scenario, cred, DURATION)))
    baseline_rps = next(r for r, s in zip(rows, scenarios, strict=True) if s.baseline)[
        "requests_per_s"
    ]
    for row in rows:
        if baseline_rps:
            row["ratio_vs_baseline"] = round(row["requests_per_s"] / baseline_rps, 4)

    exceptions, notes = log_findings(servers)
    invalid = [r for r in rows if r["problems"]]
    report = {
        "valid": not invalid,
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
            "server": "uvicorn --workers 1 --log-level warning",
        },
        "results": rows,
        "server_log_exceptions": exceptions,
        "notes": notes,
    }
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(report, indent=2) + "\n")

    print_table(rows)
    print(
        "ratio = requests/s / baseline requests/s. CPU in % of one core: server = the uvicorn "
        "process under load; other = CPU used outside the benchmark (not server, PostgreSQL or "
        "load generator)."
    )
    print(f"JSON: {out.relative_to(HERE.parent)}")
    for note in notes:
        print(note)
    if busy_before:
        print("WARNING: other processes were using CPU when the load started (see above).")
    for row in rows:
        other = row["cpu_pct_of_one_core"]["other"]
        if other is not None and other > OTHER_CPU_WARN:
            print(
                f"WARNING: {row['name']}: processes outside the benchmark used {other:.0f}% of "
                f"a core ({os.cpu_count()} cores): numbers are low and noisy; rerun when the "
                "machine is quiet."
            )
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
