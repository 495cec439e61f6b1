"""``make bench-webhooks``: webhook delivery from commit to a 2xx, with one and two workers.

One run, on the PostgreSQL of our machines (``BENCH_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``, used only to create and drop a database):

1. creates a uniquely named database, migrates it, and registers one endpoint (``customer.*``)
   of a new organization at a local receiver: a minimal asyncio HTTP/1.1 server in its own
   process that answers 200 at once and notes when each event arrived;
2. **throughput**, with 1 and then 2 worker processes (each a ``WebhookWorker.run`` loop, as
   ``asteri worker`` runs it): ``BENCH_EVENTS`` events (5,000) committed in batches of 100 as
   fast as the database takes them; events/s = events / (last arrival - first commit);
3. **latency**, 1 worker, events committed one per transaction at ``BENCH_RATE`` per second
   (200): commit → arrival, p50 / p99 / max;
4. prints the table with the targets (≥ 500 events/s with one worker, p99 < 1 s), and each
   throughput run's worker CPU per event (all its workers' user + system time, start-up
   included, over the events: steadier than events/s when other work shares the machine),
   and drops the database, on success, failure or Ctrl-C.

Every event must arrive exactly once in a healthy run (a duplicate or a loss is reported and
the run exits 1). Events are inserted as the API's writes store them (one ``events`` row each,
with the public snapshot), so what is measured is the worker: fan-out, claim, sign, POST, record.
"""

import asyncio
import multiprocessing as mp
import os
import queue
import secrets
import statistics
import sys
import time
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine, insert
from sqlalchemy.engine import make_url

from asteri.admin import create_organization
from asteri.kit.db import create_operator_engine, create_sync_engine, utcnow
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.kit.settings import Settings
from asteri.migrations import upgrade
from asteri.models import Event
from asteri.models.webhook import WebhookEndpoint
from asteri.webhooks.secrets import SecretBox, new_webhook_secret
from asteri.workers.webhooks import WebhookWorker

EVENTS = int(os.environ.get("BENCH_EVENTS", "5000"))
RATE = float(os.environ.get("BENCH_RATE", "200"))
LATENCY_EVENTS = int(os.environ.get("BENCH_LATENCY_EVENTS", "1000"))
ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


# --- the receiver ----------------------------------------------------------------------------


def _receive(port: "Any", arrivals: "Any", ready: "Any") -> None:
    """Answers every POST 200 and puts (object id, arrival time) on ``arrivals``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                arrivals.put((orjson.loads(body)["data"]["object"]["id"], time.time()))
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port.value = server.sockets[0].getsockname()[1]
        ready.set()
        await server.serve_forever()

    asyncio.run(main())


# --- the workers -----------------------------------------------------------------------------


def _work(settings: Settings, stop: "Any", cpu: "Any") -> None:
    async def main() -> None:
        worker = WebhookWorker(create_operator_engine(settings.database_url), settings)
        stopping = asyncio.Event()

        async def watch() -> None:  # the other process's stop, as this loop's event
            await asyncio.to_thread(stop.wait)
            stopping.set()

        watcher = asyncio.create_task(watch())
        await worker.run(stopping, idle=0.01)
        await watcher
        await worker.aclose()
        await worker.engine.dispose()

    asyncio.run(main())
    spent = os.times()
    with cpu.get_lock():
        cpu.value += spent.user + spent.system


@contextmanager
def _workers(settings: Settings, count: int, cpu: "Any" = None) -> "Any":
    """``count`` worker processes; ``cpu`` (a shared double) adds up their CPU seconds."""
    stop = mp.Event()
    cpu = mp.Value("d", 0.0) if cpu is None else cpu
    processes = [mp.Process(target=_work, args=(settings, stop, cpu)) for _ in range(count)]
    for process in processes:
        process.start()
    try:
        yield
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


# --- events ----------------------------------------------------------------------------------


def _event(org_pk: int, tag: str, n: int) -> dict[str, Any]:
    now = utcnow()
    object_id = f"cus_{tag}{n:08d}"
    return {
        "public_id": new_public_id(IdPrefix.EVENT),
        "organization_id": org_pk,
        "environment": "live",
        "type": "customer.created",
        "resource_type": "customer",
        "resource_id": object_id,
        "payload": {"object": "customer", "id": object_id, "display_name": f"Bench {n}"},
        "occurred_at": now,
        "created_at": now,
    }


def _commit(engine: Engine, rows: list[dict[str, Any]]) -> float:
    with engine.begin() as conn:
        conn.execute(insert(Event), rows)
    return time.time()


def _collect(arrivals: "Any", expected: set[str], timeout: float) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not expected <= got.keys():
        try:
            object_id, at = arrivals.get(timeout=0.5)
        except queue.Empty:  # nothing yet: look again, until the deadline
            pass
        else:
            got.setdefault(object_id, []).append(at)
    time.sleep(0.5)  # a straggling duplicate would arrive now
    while not arrivals.empty():
        object_id, at = arrivals.get()
        got.setdefault(object_id, []).append(at)
    return got


def _checked(name: str, got: dict[str, list[float]], expected: set[str]) -> bool:
    lost = expected - got.keys()
    twice = [k for k, v in got.items() if len(v) > 1]
    if lost or twice:
        print(f"  {name}: INVALID: {len(lost)} lost, {len(twice)} delivered twice")
        return False
    return True


def throughput(
    settings: Settings, engine: Engine, org_pk: int, arrivals: Any, workers: int
) -> tuple[float, float, bool]:
    """Events/s, the workers' CPU ms per event (steadier than events/s on a busy machine),
    and whether every event arrived exactly once."""
    tag = secrets.token_hex(3)
    rows = [_event(org_pk, tag, n) for n in range(EVENTS)]
    expected = {r["resource_id"] for r in rows}
    cpu = mp.Value("d", 0.0)
    with _workers(settings, workers, cpu):
        time.sleep(1.0)  # the workers connect and reach their loop
        first = time.time()
        for start in range(0, EVENTS, 100):
            _commit(engine, rows[start : start + 100])
        got = _collect(arrivals, expected, timeout=120)
    ok = _checked(f"{workers} worker(s)", got, expected)
    last = max(min(v) for v in got.values())
    return len(got) / (last - first), cpu.value * 1000 / EVENTS, ok


def latency(
    settings: Settings, engine: Engine, org_pk: int, arrivals: Any
) -> tuple[list[float], bool]:
    tag = secrets.token_hex(3)
    committed: dict[str, float] = {}
    with _workers(settings, 1):
        time.sleep(1.0)
        for n in range(LATENCY_EVENTS):
            row = _event(org_pk, tag, n)
            committed[row["resource_id"]] = _commit(engine, [row])
            time.sleep(max(0.0, 1 / RATE - 0.001))
        got = _collect(arrivals, set(committed), timeout=60)
    ok = _checked("latency", got, set(committed))
    return sorted(min(got[k]) - committed[k] for k in committed if k in got), ok


# --- the run ---------------------------------------------------------------------------------


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def main() -> int:
    name = f"asteri_bench_webhooks_{secrets.token_hex(4)}"
    with psycopg.connect(_conninfo(ADMIN), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN).set(database=name).render_as_string(hide_password=False)
    receiver: mp.Process | None = None
    try:
        upgrade(url)
        settings = Settings(database_url=url, webhooks_allow_private_targets=True)
        engine = create_sync_engine(url)
        port, ready = mp.Value("i", 0), mp.Event()
        arrivals: mp.Queue[tuple[str, float]] = mp.Queue()
        receiver = mp.Process(target=_receive, args=(port, arrivals, ready), daemon=True)
        receiver.start()
        ready.wait(10)
        org = create_organization(engine, "Webhook bench")
        with engine.begin() as conn:
            conn.execute(
                insert(WebhookEndpoint).values(
                    public_id=new_public_id("we"),
                    organization_id=org.id,
                    environment="live",
                    url=f"http://127.0.0.1:{port.value}/hooks",
                    event_types=["customer.*"],
                    enabled=True,
                    secret_ciphertext=SecretBox.from_settings(settings).encrypt(
                        new_webhook_secret()
                    ),
                    created_at=utcnow(),
                    updated_at=utcnow(),
                    version=1,
                )
            )
        assert org.id is not None
        one, one_cpu, ok1 = throughput(settings, engine, org.id, arrivals, 1)
        two, two_cpu, ok2 = throughput(settings, engine, org.id, arrivals, 2)
        waits, ok3 = latency(settings, engine, org.id, arrivals)
        engine.dispose()
        p50 = statistics.median(waits)
        p99 = waits[int(len(waits) * 0.99) - 1]
        print(f"\nwebhook delivery, commit → 2xx at a local receiver ({os.cpu_count()} cores)")
        print(
            f"  {'1 worker':<22}{one:>10,.0f} events/s   target ≥ 500   {_mark(one >= 500)}"
            f"   worker CPU {one_cpu:.2f} ms/event"
        )
        print(
            f"  {'2 workers':<22}{two:>10,.0f} events/s   ratio {two / one:.2f}"
            f"          worker CPU {two_cpu:.2f} ms/event"
        )
        print(
            f"  {'latency at':<11}{RATE:>5.0f}/s   p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {waits[-1] * 1000:.0f} ms   "
            f"target p99 < 1 s   {_mark(p99 < 1)}"
        )
        return 0 if ok1 and ok2 and ok3 else 1
    finally:
        if receiver is not None:
            receiver.kill()
        with psycopg.connect(_conninfo(ADMIN), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _mark(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
