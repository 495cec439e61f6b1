"""Webhook workers as processes: one killed mid-delivery loses nothing, two at once never
deliver one attempt twice, ``asteri serve`` delivers with no worker beside it, and the
runner stops at once. The workers read every tenant's rows, so this module has a database
of its own."""

import asyncio
import signal
import time
from collections import Counter

import httpx2 as httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from asteri.app import create_app, serving_app
from asteri.kit.db import utcnow
from asteri.kit.settings import get_settings
from asteri.models import Event
from asteri.models.webhook import WebhookDelivery, WebhookEndpoint
from asteri.webhooks.ids import message_id
from asteri.workers.runner import BackgroundRunner
from asteri.workers.webhooks import WebhookWorker
from tests.factories import create_customer
from tests.receiver import Answer, Receiver
from tests.servers import serving
from tests.webhook_harness import REST, Hooks

TIMEOUT = 1.0  # the killed worker's attempt timeout: its leases last 4 s


def held(hooks: Hooks, endpoint_id: str) -> dict[str, float]:
    """The endpoint's deliveries leased and not yet recorded: message id → lease expiry."""
    with hooks.engine.connect() as conn:
        rows = conn.execute(
            select(col(Event.public_id), col(WebhookDelivery.leased_until))
            .join(Event, col(Event.id) == col(WebhookDelivery.event_id))
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .where(
                col(WebhookEndpoint.public_id) == endpoint_id,
                col(WebhookDelivery.lease_token).is_not(None),
            )
        ).all()
    key = hooks.settings.key_pepper.get_secret_value().encode()
    return {
        message_id(event, endpoint_id, key=key): until.timestamp()
        for event, until in rows
        if until is not None
    }


def wait_until_recorded(hooks: Hooks, endpoint_id: str, count: int, timeout: float = 20) -> None:
    """Until ``count`` deliveries of the endpoint have succeeded (the worker wrote them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(d.status == "succeeded" for d in hooks.deliveries(endpoint_id)) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"not {count} deliveries succeeded in {timeout} s")


def test_a_worker_killed_mid_delivery_loses_nothing(hooks: Hooks, receiver: Receiver) -> None:
    receiver.answer = lambda _r: Answer(delay=0.3)  # slow: deliveries are in flight
    key = hooks.key()
    endpoint_id = hooks.register(key, receiver.url, ["customer.created"])["webhook_endpoint"]["id"]
    total, created = 50, 1
    with hooks.worker_process(ASTERI_WEBHOOK_TIMEOUT_SECONDS=str(TIMEOUT)) as first:
        create_customer(hooks.api, key)
        receiver.wait_for(1)  # the worker is up and delivering
        while created < total:
            create_customer(hooks.api, key)
            created += 1
            with receiver.lock:  # some answered, some still being answered: kill it now
                mid_delivery = len(receiver.received) > receiver.answering > 0
            if mid_delivery:
                first.send_signal(signal.SIGKILL)
                break
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL, "the worker never had a delivery in flight"
    killed_at = time.time()
    arrived_before = receiver.message_ids()
    leases = held(hooks, endpoint_id)  # what the dead worker held: its in-flight deliveries
    assert leases, "nothing was in flight when the worker died"
    assert 0 < len(arrived_before) < total

    for _ in range(total - created):  # events keep coming while no worker runs
        create_customer(hooks.api, key)
    receiver.answer = lambda _r: Answer()
    expected = hooks.message_ids(endpoint_id, "customer.created")
    assert len(expected) == total
    with hooks.worker_process(ASTERI_WEBHOOK_TIMEOUT_SECONDS=str(TIMEOUT)):
        receiver.wait_until(
            lambda got: {r.message_id for r in got} >= expected, "every message id", timeout=30
        )
        wait_until_recorded(hooks, endpoint_id, total)

    counts = Counter(r.message_id for r in receiver.received)
    assert set(counts) == expected  # nothing lost, nothing foreign
    duplicates = {m: n - 1 for m, n in counts.items() if n > 1}
    # Only what the dead worker held can arrive twice, and only once its lease ran out.
    assert set(duplicates) <= set(leases)
    assert sum(duplicates.values()) <= len(leases)
    for got in receiver.received:
        if got.message_id in leases and got.at > killed_at:
            assert got.at >= leases[got.message_id], "taken over before the lease ran out"
    deliveries = hooks.deliveries(endpoint_id)
    assert {(d.status, d.attempts) for d in deliveries} == {("succeeded", 1)}
    print(  # the numbers the issue asks to report (pytest -s)
        f"\nSIGKILL: {len(arrived_before)} of {total} arrived before the kill, "
        f"{len(leases)} in flight, {sum(duplicates.values())} duplicates"
    )


def test_two_workers_at_once_never_deliver_one_attempt_twice(
    hooks: Hooks, receiver: Receiver
) -> None:
    key = hooks.key()
    endpoint_id = hooks.register(key, receiver.url, ["customer.created"])["webhook_endpoint"]["id"]
    total = 300
    for _ in range(total):
        create_customer(hooks.api, key)
    expected = hooks.message_ids(endpoint_id, "customer.created")
    # Small batches, so the two take turns over the backlog many times; one clock (the real
    # one), as two processes have.
    workers = [hooks.worker(utcnow, batch=20), hooks.worker(utcnow, batch=20)]

    async def share(worker: WebhookWorker) -> int:
        """The worker's loop (``run``'s, but a database error fails the test) until every
        event has arrived; how many attempts this worker made."""
        made = 0
        while len(receiver.message_ids()) < total:
            attempts = await worker.tick()
            made += attempts
            if not attempts:
                await asyncio.sleep(0.01)  # idle, as ``run`` is
        return made

    async def both() -> list[int]:
        return list(await asyncio.gather(*(share(w) for w in workers)))

    shares = hooks.runner.run(both())
    assert all(shares), f"one worker did everything: {shares}"
    assert sum(shares) == total
    assert [hooks.tick(w) for w in workers] == [0, 0]
    counts = Counter(r.message_id for r in receiver.received)
    assert set(counts) == expected
    assert set(counts.values()) == {1}, "a webhook-id was received twice"
    deliveries = hooks.deliveries(endpoint_id)
    assert len(deliveries) == total
    assert {(d.status, d.attempts) for d in deliveries} == {("succeeded", 1)}
    attempts = hooks.attempts(endpoint_id)
    assert len(attempts) == len({a.delivery_id for a in attempts}) == total


def test_serve_on_the_embedded_default_delivers_with_no_worker(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``asteri serve`` runs ``serving_app``: with no Redis configured, the background runner
    runs in the server's process, and a customer created over HTTP reaches the receiver."""
    key = hooks.key()
    hooks.register(key, receiver.url, ["customer.created"])
    own = hooks.settings
    for name, value in {
        "ASTERI_DATABASE_URL": own.database_url,
        "ASTERI_KEY_PEPPER": own.key_pepper.get_secret_value(),
        "ASTERI_WEBHOOK_SECRET_KEY": own.webhook_secret_key.get_secret_value(),
        "ASTERI_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ASTERI_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert get_settings().runs_worker_in_process
        with serving(serving_app()) as base:
            created = httpx.post(
                f"{base}{REST}/customers", headers=key.headers(), json={"display_name": "Ada"}
            )
            assert created.status_code == 201, created.text
            (got,) = receiver.wait_for(1, timeout=10)
    finally:
        get_settings.cache_clear()
    assert got.json["type"] == "customer.created"
    assert got.json["data"]["object"]["id"] == created.json()["id"]


def test_an_app_without_background_does_not_deliver(hooks: Hooks, receiver: Receiver) -> None:
    key = hooks.key()
    endpoint_id = hooks.register(key, receiver.url, ["customer.created"])["webhook_endpoint"]["id"]
    with serving(create_app(hooks.settings)) as base:
        created = httpx.post(
            f"{base}{REST}/customers", headers=key.headers(), json={"display_name": "Ada"}
        )
        assert created.status_code == 201, created.text
        # An absence can only be watched for a while: 20 of a worker's idle waits.
        with pytest.raises(AssertionError):
            receiver.wait_for(1, timeout=1.0)
    assert hooks.deliveries(endpoint_id) == []  # not even fanned out
    hooks.tick(hooks.worker())  # a worker delivers it: it was waiting for one
    (got,) = receiver.wait_for(1)
    assert got.json["data"]["object"]["id"] == created.json()["id"]


def test_the_runner_closes_promptly_while_idle(hooks: Hooks, receiver: Receiver) -> None:
    key = hooks.key()
    endpoint_id = hooks.register(key, receiver.url, ["customer.created"])["webhook_endpoint"]["id"]
    create_customer(hooks.api, key)

    async def run_then_close() -> None:
        runner = BackgroundRunner(hooks.settings)
        runner.start()
        deadline = time.monotonic() + 10
        while not any(
            d.status == "succeeded" for d in await asyncio.to_thread(hooks.deliveries, endpoint_id)
        ):  # it delivered and recorded: now it is idle
            assert time.monotonic() < deadline, "the runner delivered nothing"
            await asyncio.sleep(0.02)
        # Idle, it stops at once: a bound for liveness (a hung close fails), not a speed.
        await asyncio.wait_for(runner.close(), timeout=5)

    hooks.runner.run(run_then_close())
    assert len(receiver.received) == 1
