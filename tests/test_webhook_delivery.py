"""Webhook delivery end to end: endpoints registered through the API, events fanned out by a
real worker, signed POSTs to a real receiver on loopback, verified with the official
``standardwebhooks`` package; retries, disabling, rotation, recover and replay on an injected
clock. The worker reads every tenant's rows, so this module has a database of its own."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from asteri.kit.settings import Settings
from asteri.models import AuditEntry, Event
from asteri.workers.webhooks import SCHEDULE
from tests.factories import create_customer
from tests.receiver import Answer, Received, Receiver, receiving
from tests.webhook_harness import Clock, Hooks, webhook_world


@pytest.fixture(scope="module")
def hooks(settings: Settings, own_database_url: str) -> Iterator[Hooks]:
    with webhook_world(settings, own_database_url) as world:
        yield world


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as made:
        yield made


def verified(secret: str, got: Received) -> Any:
    """The payload, if the official library accepts the signature (raises otherwise)."""
    return Webhook(secret).verify(got.body, got.headers)


def test_register_then_a_signed_test_event_arrives_at_once(
    hooks: Hooks, receiver: Receiver
) -> None:
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.*", "appointment.completed"])
    endpoint, secret = made["webhook_endpoint"], made["secret"]
    assert secret.startswith("whsec_")
    assert endpoint["event_types"] == ["appointment.completed", "customer.*"]
    assert (
        "secret"
        not in hooks.api.rest("GET", f"/webhook_endpoints/{endpoint['id']}", as_=key).json()
    )

    queued = hooks.api.rest("POST", f"/webhook_endpoints/{endpoint['id']}/test", as_=key)
    assert queued.status_code == 200, queued.text
    assert queued.json()["queued"] == 1
    worker = hooks.worker()
    assert hooks.tick(worker) == 1
    (got,) = receiver.wait_for(1)
    payload = verified(secret, got)
    assert payload["type"] == "webhook_endpoint.tested"
    assert payload["data"]["object"]["id"] == endpoint["id"]
    assert got.message_id.startswith("msg_")
    (attempt,) = hooks.attempts(endpoint["id"])
    assert (attempt.outcome, attempt.response_status, attempt.trigger) == ("succeeded", 200, "test")
    assert attempt.message_id == got.message_id


def test_a_new_customer_is_delivered_and_verifies(hooks: Hooks, receiver: Receiver) -> None:
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.*"])
    customer = create_customer(hooks.api, key)
    hooks.api.rest(
        "POST",
        "/team_members",
        as_=key,
        json={"name": "Not subscribed", "email": "ns@example.com", "role": "technician"},
    )
    worker = hooks.worker()
    hooks.tick(worker)
    (got,) = receiver.wait_for(1)
    payload = verified(made["secret"], got)
    assert payload["type"] == "customer.created"
    assert payload["data"]["object"]["id"] == customer["id"]
    assert payload["data"]["object"]["object"] == "customer"
    assert got.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        verified("whsec_" + "A" * 43 + "=", got)
    assert hooks.tick(worker) == 0  # nothing more: the team member is not subscribed
    assert len(receiver.received) == 1


def test_the_retry_schedule_runs_on_the_injected_clock(hooks: Hooks, receiver: Receiver) -> None:
    receiver.answer = lambda _r: Answer(status=500, body=b"down")
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    create_customer(hooks.api, key)
    clock = Clock()
    worker = hooks.worker(clock)
    assert hooks.tick(worker) == 1
    for number, wait in enumerate(SCHEDULE, start=2):
        (delivery,) = hooks.deliveries(made["webhook_endpoint"]["id"])
        assert delivery.status == "retrying"
        due = delivery.next_attempt_at - clock.now
        assert wait <= due <= wait * 1.1 + timedelta(milliseconds=1)  # jitter only lengthens
        clock.advance(due - timedelta(milliseconds=50))
        assert hooks.tick(worker) == 0, "attempted before it was due"
        clock.advance(timedelta(milliseconds=50))
        assert hooks.tick(worker) == 1
        assert len(receiver.wait_for(number)) == number
    (delivery,) = hooks.deliveries(made["webhook_endpoint"]["id"])
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 8, None)
    ids = {r.message_id for r in receiver.received}
    assert len(ids) == 1  # one webhook-id across every attempt
    attempts = hooks.attempts(made["webhook_endpoint"]["id"])
    assert [a.number for a in attempts] == list(range(1, 9))
    assert {(a.outcome, a.response_status, a.response_excerpt) for a in attempts} == {
        ("failed", 500, "down")
    }
    clock.advance(timedelta(days=30))
    assert hooks.tick(worker) == 0  # spent: never again


def test_retry_after_is_honoured_on_429_and_503(hooks: Hooks, receiver: Receiver) -> None:
    receiver.answer = lambda _r: Answer(status=429, headers={"Retry-After": "600"})
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    create_customer(hooks.api, key)
    clock = Clock()
    worker = hooks.worker(clock)
    hooks.tick(worker)
    (delivery,) = hooks.deliveries(made["webhook_endpoint"]["id"])
    assert delivery.next_attempt_at - clock.now >= timedelta(seconds=600)
    receiver.answer = lambda _r: Answer(status=503, headers={"Retry-After": "1"})
    clock.advance(timedelta(seconds=600))
    hooks.tick(worker)
    (delivery,) = hooks.deliveries(made["webhook_endpoint"]["id"])
    # A shorter Retry-After than the schedule's wait does not bring the retry forward.
    assert delivery.next_attempt_at - clock.now >= SCHEDULE[1]


def _disabled_events(hooks: Hooks, endpoint_id: str) -> list[Any]:
    with hooks.engine.connect() as conn:
        return list(
            conn.execute(
                select(Event).where(
                    col(Event.resource_id) == endpoint_id,
                    col(Event.type) == "webhook_endpoint.disabled",
                )
            ).all()
        )


def test_410_gone_disables_the_endpoint_with_its_event(hooks: Hooks, receiver: Receiver) -> None:
    receiver.answer = lambda _r: Answer(status=410)
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    endpoint_id = made["webhook_endpoint"]["id"]
    create_customer(hooks.api, key)
    create_customer(hooks.api, key)
    worker = hooks.worker()
    hooks.tick(worker)
    endpoint = hooks.api.rest("GET", f"/webhook_endpoints/{endpoint_id}", as_=key).json()
    assert (endpoint["enabled"], endpoint["disabled_reason"]) == (False, "gone")
    (event,) = _disabled_events(hooks, endpoint_id)
    assert event.payload["disabled_reason"] == "gone"
    with hooks.engine.connect() as conn:
        entry = conn.execute(
            select(AuditEntry).where(col(AuditEntry.public_id) == event.audit_entry_id)
        ).one()
    assert (entry.actor_type, entry.actor_id, entry.action) == (
        "system",
        "webhooks",
        "webhook_endpoint.disabled",
    )
    sent = len(receiver.received)
    create_customer(hooks.api, key)
    hooks.tick(worker, passes=2)
    assert len(receiver.received) == sent  # nothing more is sent to a disabled endpoint

    # Enabling it again clears the reason; what is still pending resumes.
    receiver.answer = lambda _r: Answer()
    enabled = hooks.api.rest(
        "PATCH", f"/webhook_endpoints/{endpoint_id}", as_=key, json={"enabled": True}
    )
    assert enabled.json()["disabled_reason"] is None
    hooks.tick(worker)
    assert len(receiver.received) >= sent


def test_three_days_of_failures_disable_the_endpoint(hooks: Hooks, receiver: Receiver) -> None:
    receiver.answer = lambda _r: Answer(status=500)
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    endpoint_id = made["webhook_endpoint"]["id"]
    clock = Clock()
    worker = hooks.worker(clock)
    create_customer(hooks.api, key)
    hooks.tick(worker)
    clock.advance(timedelta(days=3) - timedelta(minutes=1))
    create_customer(hooks.api, key)
    hooks.tick(worker)
    got = hooks.api.rest("GET", f"/webhook_endpoints/{endpoint_id}", as_=key).json()
    assert got["enabled"] is True  # not yet three days
    clock.advance(timedelta(minutes=2))
    hooks.tick(worker)
    got = hooks.api.rest("GET", f"/webhook_endpoints/{endpoint_id}", as_=key).json()
    assert (got["enabled"], got["disabled_reason"]) == (False, "failing")
    assert len(_disabled_events(hooks, endpoint_id)) == 1


def test_a_success_resets_the_failure_clock(hooks: Hooks, receiver: Receiver) -> None:
    failing = {"on": True}
    receiver.answer = lambda _r: Answer(status=500 if failing["on"] else 200)
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    endpoint_id = made["webhook_endpoint"]["id"]
    clock = Clock()
    worker = hooks.worker(clock)
    create_customer(hooks.api, key)
    hooks.tick(worker)
    clock.advance(timedelta(days=2))
    failing["on"] = False
    create_customer(hooks.api, key)
    hooks.tick(worker)
    failing["on"] = True
    clock.advance(timedelta(days=1, hours=1))
    create_customer(hooks.api, key)
    hooks.tick(worker)
    got = hooks.api.rest("GET", f"/webhook_endpoints/{endpoint_id}", as_=key).json()
    assert got["enabled"] is True


def test_redirects_are_not_followed(hooks: Hooks, receiver: Receiver) -> None:
    receiver.answer = lambda r: (
        Answer(status=302, headers={"Location": receiver.url + "/elsewhere"})
        if r.path == "/hooks"
        else Answer()
    )
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    create_customer(hooks.api, key)
    hooks.tick(hooks.worker())
    assert [r.path for r in receiver.received] == ["/hooks"]
    (attempt,) = hooks.attempts(made["webhook_endpoint"]["id"])
    assert (attempt.outcome, attempt.response_status) == ("failed", 302)
    assert "redirect not followed" in attempt.error


def test_a_slow_receiver_times_out(hooks: Hooks, receiver: Receiver) -> None:
    receiver.answer = lambda _r: Answer(delay=1.5)
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    create_customer(hooks.api, key)
    hooks.tick(hooks.worker(timeout=0.3))
    (attempt,) = hooks.attempts(made["webhook_endpoint"]["id"])
    assert (attempt.outcome, attempt.response_status) == ("failed", None)
    assert "timed out" in attempt.error
    assert attempt.duration_ms < 1_400


def test_the_answer_is_read_up_to_a_cap_and_kept_escaped(hooks: Hooks, receiver: Receiver) -> None:
    hostile = b"<script>\x1b[31m\n" + b"x" * 200_000
    receiver.answer = lambda _r: Answer(status=500, body=hostile)
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    create_customer(hooks.api, key)
    hooks.tick(hooks.worker())
    (attempt,) = hooks.attempts(made["webhook_endpoint"]["id"])
    assert len(attempt.response_excerpt) == 1_000
    assert attempt.response_excerpt.startswith("<script>\\x1b[31m\\n")
    assert all(c.isprintable() for c in attempt.response_excerpt)


def test_rotation_signs_with_both_secrets_through_the_overlap(
    hooks: Hooks, receiver: Receiver
) -> None:
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    endpoint_id, old = made["webhook_endpoint"]["id"], made["secret"]
    rotated = hooks.api.rest(
        "POST",
        f"/webhook_endpoints/{endpoint_id}/rotate_secret",
        as_=key,
        json={"overlap_seconds": 3600},
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old
    clock = Clock()
    worker = hooks.worker(clock)
    create_customer(hooks.api, key)
    hooks.tick(worker)
    (during,) = receiver.wait_for(1)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    verified(old, during)
    verified(new, during)

    clock.advance(timedelta(hours=1, seconds=1))
    create_customer(hooks.api, key)
    hooks.tick(worker)
    after = receiver.wait_for(2)[1]
    verified(new, after)
    with pytest.raises(WebhookVerificationError):
        verified(old, after)


def test_an_overlap_can_be_ended_early(hooks: Hooks, receiver: Receiver) -> None:
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    endpoint_id, old = made["webhook_endpoint"]["id"], made["secret"]
    path = f"/webhook_endpoints/{endpoint_id}"
    new = hooks.api.rest("POST", f"{path}/rotate_secret", as_=key, json={}).json()["secret"]
    assert hooks.api.rest("GET", path, as_=key).json()["previous_secret_expires_at"] is not None
    ended = hooks.api.rest("POST", f"{path}/end_rotation", as_=key)
    assert ended.status_code == 200, ended.text
    assert ended.json()["previous_secret_expires_at"] is None
    create_customer(hooks.api, key)
    hooks.tick(hooks.worker())
    (got,) = receiver.wait_for(1)
    verified(new, got)
    with pytest.raises(WebhookVerificationError):
        verified(old, got)
