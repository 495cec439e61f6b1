"""Webhook delivery end to end: endpoints registered through the API, events fanned out by a
real worker, signed POSTs to a real receiver on loopback, verified with the official
``standardwebhooks`` package; retries, disabling, rotation, recover and replay on an injected
clock. The worker reads every tenant's rows, so this module has a database of its own."""

import asyncio
import secrets
import socket
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import col
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from asteri.app import create_app
from asteri.authz.scopes import Scope
from asteri.models import AuditEntry, Event, IdempotencyRecord
from asteri.models.webhook import WebhookEndpoint
from asteri.workers.webhooks import SCHEDULE
from tests.factories import Api, create_customer
from tests.receiver import Answer, Received, Receiver, receiving
from tests.webhook_harness import Clock, Hooks


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
        waits = delivery.next_attempt_at - delivery.last_attempt_at
        assert wait <= waits <= wait * 1.1  # jitter only lengthens
        clock.advance(delivery.next_attempt_at - clock.now - timedelta(seconds=1))
        assert hooks.tick(worker) == 0, "attempted before it was due"
        clock.advance(timedelta(seconds=1))
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
    assert delivery.next_attempt_at - delivery.last_attempt_at >= timedelta(seconds=600)
    receiver.answer = lambda _r: Answer(status=503, headers={"Retry-After": "1"})
    clock.advance(timedelta(seconds=600))
    hooks.tick(worker)
    (delivery,) = hooks.deliveries(made["webhook_endpoint"]["id"])
    # A shorter Retry-After than the schedule's wait does not bring the retry forward.
    assert delivery.next_attempt_at - delivery.last_attempt_at >= SCHEDULE[1]


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


def _path(made: dict[str, Any]) -> str:
    return f"/webhook_endpoints/{made['webhook_endpoint']['id']}"


def _latest_event_time(hooks: Hooks) -> datetime:
    with hooks.engine.connect() as conn:
        found = conn.execute(
            select(col(Event.occurred_at)).order_by(col(Event.id).desc()).limit(1)
        ).scalar_one()
    return found


def _event_id(hooks: Hooks, resource_id: str) -> str:
    with hooks.engine.connect() as conn:
        return str(
            conn.execute(
                select(col(Event.public_id)).where(col(Event.resource_id) == resource_id)
            ).scalar_one()
        )


def test_recover_resends_the_failures_since_t_and_never_a_success(
    hooks: Hooks, receiver: Receiver
) -> None:
    """The receiver is down for an hour; recover since T sends exactly the failed events of
    the window, once each, with their original webhook-ids."""
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    clock = Clock()
    worker = hooks.worker(clock)
    before = create_customer(hooks.api, key)  # delivered while the receiver is up
    hooks.tick(worker)
    assert len(receiver.wait_for(1)) == 1

    receiver.answer = lambda _r: Answer(status=503)
    early = create_customer(hooks.api, key)  # fails, outside the window
    hooks.tick(worker)
    since = _latest_event_time(hooks)
    down = [create_customer(hooks.api, key) for _ in range(3)]  # fail, in the window
    hooks.tick(worker)
    for _ in range(60):  # an hour down: the retries at 5 s, 5 min and 30 min fail too
        clock.advance(timedelta(minutes=1))
        hooks.tick(worker)
    failed_ids = {r.message_id for r in receiver.received[1:]}
    assert len(failed_ids) == 4
    assert len(receiver.received) == 1 + 4 * 4

    receiver.answer = lambda _r: Answer()
    receiver.clear()
    window = since + timedelta(microseconds=1)
    recovered = hooks.api.rest(
        "POST", f"{_path(made)}/recover", as_=key, json={"since": window.isoformat()}
    )
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["queued"] == 3
    hooks.tick(worker)
    got = receiver.wait_for(3)
    assert {verified(made["secret"], r)["data"]["object"]["id"] for r in got} == {
        c["id"] for c in down
    }
    assert {r.message_id for r in got} < failed_ids  # the same ids as their failed attempts
    assert before["id"] not in {r.json["data"]["object"]["id"] for r in got}
    assert early["id"] not in {r.json["data"]["object"]["id"] for r in got}
    # Recovering again finds nothing left to recover: they succeeded.
    again = hooks.api.rest(
        "POST", f"{_path(made)}/recover", as_=key, json={"since": window.isoformat()}
    )
    assert again.json()["queued"] == 0
    triggers = [a.trigger for a in hooks.attempts(made["webhook_endpoint"]["id"])]
    assert triggers.count("recover") == 3


def test_replay_missing_sends_what_the_endpoint_never_received(
    hooks: Hooks, receiver: Receiver
) -> None:
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"], enabled=False)
    worker = hooks.worker()
    old = create_customer(hooks.api, key)
    hooks.tick(worker)
    since = _latest_event_time(hooks)
    missed = [create_customer(hooks.api, key) for _ in range(2)]
    hooks.api.rest(
        "POST",
        "/team_members",
        as_=key,
        json={
            "name": "Other type",
            "email": f"o{secrets.token_hex(4)}@example.com",
            "role": "technician",
        },
    )
    hooks.tick(worker)
    assert receiver.received == []  # disabled: nothing fanned out to it

    hooks.api.rest("PATCH", _path(made), as_=key, json={"enabled": True})
    window = (since + timedelta(microseconds=1)).isoformat()
    replayed = hooks.api.rest(
        "POST", f"{_path(made)}/replay_missing", as_=key, json={"since": window}
    )
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["queued"], replayed.json()["more"]) == (2, False)
    hooks.tick(worker)
    got = receiver.wait_for(2)
    assert {r.json["data"]["object"]["id"] for r in got} == {c["id"] for c in missed}
    assert old["id"] not in {r.json["data"]["object"]["id"] for r in got}
    again = hooks.api.rest("POST", f"{_path(made)}/replay_missing", as_=key, json={"since": window})
    assert again.json()["queued"] == 0  # received now: no longer missing


def test_resend_sends_one_event_again_with_its_webhook_id(hooks: Hooks, receiver: Receiver) -> None:
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created"])
    customer = create_customer(hooks.api, key)
    worker = hooks.worker()
    hooks.tick(worker)
    (first,) = receiver.wait_for(1)
    event_id = _event_id(hooks, customer["id"])
    resent = hooks.api.rest("POST", f"{_path(made)}/resend", as_=key, json={"event_id": event_id})
    assert resent.status_code == 200, resent.text
    hooks.tick(worker)
    second = receiver.wait_for(2)[1]
    assert second.message_id == first.message_id
    assert second.body == first.body
    verified(made["secret"], second)
    absent = hooks.api.rest(
        "POST", f"{_path(made)}/resend", as_=key, json={"event_id": "evt_" + "0" * 22}
    )
    assert (absent.status_code, absent.json()["code"]) == (404, "NOT_FOUND")


def test_another_organizations_endpoints_and_events_are_out_of_reach(
    hooks: Hooks, receiver: Receiver
) -> None:
    mine, theirs = hooks.key(), hooks.key()
    made = hooks.register(mine, receiver.url, ["customer.*"])
    other = hooks.register(theirs, receiver.url + "/theirs", ["customer.*"])
    their_customer = create_customer(hooks.api, theirs)
    their_event = _event_id(hooks, their_customer["id"])
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"description": "mine now"}),
        ("POST", "/test", None),
        ("POST", "/rotate_secret", {}),
        ("POST", "/recover", {"since": "2026-01-01T00:00:00Z"}),
        ("DELETE", "", None),
    ):
        answer = hooks.api.rest(method, f"{_path(other)}{suffix}", as_=mine, json=body)
        assert (answer.status_code, answer.json()["code"]) == (404, "NOT_FOUND"), (method, suffix)
    resend = hooks.api.rest(
        "POST", f"{_path(made)}/resend", as_=mine, json={"event_id": their_event}
    )
    assert (resend.status_code, resend.json()["code"]) == (404, "NOT_FOUND")
    listed = hooks.api.rest("GET", "/webhook_endpoints", as_=mine).json()["data"]
    assert [e["id"] for e in listed] == [made["webhook_endpoint"]["id"]]
    replay = hooks.api.rest(
        "POST", f"{_path(made)}/replay_missing", as_=mine, json={"since": "2026-01-01T00:00:00Z"}
    )
    assert replay.json()["queued"] == 0  # their events are not mine to replay

    # Fan-out: each organization's events reach its own endpoints only.
    create_customer(hooks.api, mine)
    hooks.tick(hooks.worker())
    got = receiver.wait_for(2)
    by_path = {r.path: r.json["data"]["object"]["id"] for r in got}
    assert by_path["/hooks/theirs"] == their_customer["id"]
    assert by_path["/hooks"] != their_customer["id"]
    verified(made["secret"], next(r for r in got if r.path == "/hooks"))
    verified(other["secret"], next(r for r in got if r.path == "/hooks/theirs"))


def test_the_test_environment_is_kept_apart(hooks: Hooks, receiver: Receiver) -> None:
    live = hooks.key()
    test = hooks.key(org=live.organization_id, environment="test")
    hooks.register(live, receiver.url, ["customer.created"])
    create_customer(hooks.api, test)
    hooks.tick(hooks.worker())
    assert receiver.received == []


def _resolving(monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str]) -> list[str]:
    """``name`` resolves to ``answers[0]``, then ``answers[1]``… (the last one repeats): a DNS
    rebinding. Returns the log of what each resolution answered."""
    real = socket.getaddrinfo
    log: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        address = answers[min(len(log), len(answers) - 1)]
        log.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return log


def test_a_name_that_resolves_to_loopback_is_refused_at_connect(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registration cannot know where a name points; the worker checks the resolved address
    of every attempt, with private targets not allowed (production's setting)."""
    port = receiver.url.split(":")[2].split("/")[0]
    _resolving(monkeypatch, "hooks.rebind.test", ["127.0.0.1"])
    key = hooks.key()
    made = hooks.register(key, f"http://hooks.rebind.test:{port}/hooks", ["customer.created"])
    create_customer(hooks.api, key)
    strict = hooks.settings.model_copy(update={"webhooks_allow_private_targets": False})
    worker = hooks.worker()
    worker.settings = strict
    hooks.tick(worker)
    (attempt,) = hooks.attempts(made["webhook_endpoint"]["id"])
    assert (attempt.outcome, attempt.response_status) == ("failed", None)
    assert "loopback" in attempt.error
    assert receiver.received == []


def test_the_connection_goes_to_the_address_that_was_checked(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebinding name answers the check with one address and any later lookup with
    another: the worker resolves once and connects to the vetted address, with the name as
    ``Host``, so the second answer is never used."""
    port = receiver.url.split(":")[2].split("/")[0]
    lookups = _resolving(monkeypatch, "swap.rebind.test", ["127.0.0.1", "203.0.113.9"])
    key = hooks.key()
    hooks.register(key, f"http://swap.rebind.test:{port}/hooks", ["customer.created"])
    create_customer(hooks.api, key)
    hooks.tick(hooks.worker())
    (got,) = receiver.wait_for(1)
    assert got.headers["host"] == f"swap.rebind.test:{port}"
    assert lookups == ["127.0.0.1"]  # one resolution, the checked one


def test_refused_urls_and_unknown_event_types_are_422s(hooks: Hooks) -> None:
    """A URL the guard refuses (its address classes are tests/test_webhook_targets.py's) or
    an event type the catalogue lacks: a 422 naming each field, and nothing stored."""
    key = hooks.key()
    for url in ("ftp://hooks.example.com/x", "https://user:pw@hooks.example.com/x", "https://"):
        answer = hooks.api.rest(
            "POST", "/webhook_endpoints", as_=key, json={"url": url, "event_types": ["customer.*"]}
        )
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["errors"][0]["pointer"] == "/url"
    unknown = hooks.api.rest(
        "POST",
        "/webhook_endpoints",
        as_=key,
        json={"url": "https://hooks.example.com/x", "event_types": ["customer.exploded", "nope.*"]},
    )
    assert unknown.status_code == 422
    assert [e["pointer"] for e in unknown.json()["errors"]] == [
        "/event_types/0",
        "/event_types/1",
    ]
    assert hooks.api.rest("GET", "/webhook_endpoints", as_=key).json()["data"] == []


def test_private_address_literals_are_refused_at_registration(hooks: Hooks) -> None:
    strict = hooks.settings.model_copy(update={"webhooks_allow_private_targets": False})
    with TestClient(create_app(strict), raise_server_exceptions=False) as client:
        api = Api(client=client, engine=hooks.engine, settings=strict)
        key = api.key(scopes=[Scope.MANAGE_WEBHOOKS.value])
        for url in (
            "https://127.0.0.1/hooks",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.8/hooks",
            "https://[::ffff:192.168.0.1]/hooks",
        ):
            answer = api.rest(
                "POST",
                "/webhook_endpoints",
                as_=key,
                json={"url": url, "event_types": ["customer.*"]},
            )
            assert answer.status_code == 422, (url, answer.text)
            assert answer.json()["errors"][0]["pointer"] == "/url"
        assert api.rest("GET", "/webhook_endpoints", as_=key).json()["data"] == []


def test_secrets_appear_only_in_the_answers_that_issue_them(
    hooks: Hooks, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    key = hooks.key()
    made = hooks.register(key, receiver.url, ["customer.created", "webhook_endpoint.*"])
    path = _path(made)
    rotated = hooks.api.rest("POST", f"{path}/rotate_secret", as_=key, json={}).json()["secret"]
    secrets_shown = [made["secret"], rotated]
    create_customer(hooks.api, key)
    hooks.tick(hooks.worker(), passes=2)
    receiver.wait_for(1)
    seen = [
        hooks.api.rest("GET", path, as_=key).text,
        hooks.api.rest("GET", "/webhook_endpoints", as_=key).text,
        *(r.body.decode() for r in receiver.received),
        caplog.text,
    ]
    with hooks.engine.connect() as conn:
        seen += [repr(row) for row in conn.execute(select(Event)).all()]
        seen += [repr(row) for row in conn.execute(select(AuditEntry)).all()]
        stored = conn.execute(select(WebhookEndpoint)).all()
    for secret in secrets_shown:
        raw = secret.removeprefix("whsec_")
        assert not any(raw in text for text in seen)
        assert not any(raw in repr(row) for row in stored)  # encrypted at rest, not encoded


def test_a_slow_receiver_does_not_hold_up_the_others(hooks: Hooks) -> None:
    """The worker's loop gives each attempt its own slot: while one receiver sits on a
    request, another endpoint's events keep arriving."""
    release = threading.Event()

    def stuck(_r: Received) -> Answer:
        release.wait(timeout=20)
        return Answer()

    with receiving("/slow") as slow, receiving("/fast") as fast:
        slow.answer = stuck
        key = hooks.key()
        hooks.register(key, slow.url, ["customer.created"])
        other = hooks.key()
        hooks.register(other, fast.url, ["customer.created"])
        worker = hooks.worker()
        stop = asyncio.Event()

        async def scenario() -> None:
            running = asyncio.create_task(worker.run(stop))
            await asyncio.to_thread(create_customer, hooks.api, key)
            await asyncio.to_thread(slow.wait_for, 1)
            for _ in range(3):
                await asyncio.to_thread(create_customer, hooks.api, other)
            await asyncio.to_thread(fast.wait_for, 3)  # while the slow one is still held
            assert not release.is_set()
            release.set()
            stop.set()
            await running

        hooks.runner.run(scenario())
        assert len(slow.received) == 1
        assert len(fast.received) == 3


def test_an_idempotent_create_or_rotate_never_stores_the_secret(hooks: Hooks) -> None:
    key = hooks.key()
    body = {"url": "https://hooks.example.com/once", "event_types": ["customer.*"]}
    headers = {"idempotency-key": f"create-{secrets.token_hex(4)}"}
    created = hooks.api.rest("POST", "/webhook_endpoints", as_=key, json=body, headers=headers)
    assert created.status_code == 201, created.text
    retry = hooks.api.rest("POST", "/webhook_endpoints", as_=key, json=body, headers=headers)
    assert (retry.status_code, retry.json()["reason"]) == (409, "secret_not_replayed")
    assert retry.json()["resource_id"] == created.json()["webhook_endpoint"]["id"]
    assert created.json()["secret"] not in retry.text

    path = _path(created.json())
    again = {"idempotency-key": f"rotate-{secrets.token_hex(4)}"}
    rotated = hooks.api.rest("POST", f"{path}/rotate_secret", as_=key, json={}, headers=again)
    assert rotated.status_code == 200, rotated.text
    repeat = hooks.api.rest("POST", f"{path}/rotate_secret", as_=key, json={}, headers=again)
    assert (repeat.status_code, repeat.json()["reason"]) == (409, "secret_not_replayed")
    with hooks.engine.connect() as conn:
        stored = [
            bytes(b or b"") for b in conn.scalars(select(col(IdempotencyRecord.response_body)))
        ]
    for secret in (created.json()["secret"], rotated.json()["secret"]):
        assert not any(secret.encode() in b for b in stored)
    # The replay-oriented operations are idempotent like every POST: the same answer again.
    window = {"since": "2026-01-01T00:00:00Z"}
    recover_key = {"idempotency-key": f"recover-{secrets.token_hex(4)}"}
    first = hooks.api.rest("POST", f"{path}/recover", as_=key, json=window, headers=recover_key)
    second = hooks.api.rest("POST", f"{path}/recover", as_=key, json=window, headers=recover_key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"


def test_a_claim_leases_no_more_than_it_asks_for(hooks: Hooks, receiver: Receiver) -> None:
    """``claim(limit=n)`` leases at most n deliveries, however the database plans it (a
    semi-join that rescans the locking subquery would lease every due one)."""
    key = hooks.key()
    hooks.register(key, receiver.url, ["customer.created"])
    for _ in range(12):
        create_customer(hooks.api, key)
    worker = hooks.worker()
    while hooks.runner.run(worker.fan_out()):
        pass
    first = hooks.runner.run(worker.claim(limit=5))
    second = hooks.runner.run(worker.claim(limit=5))
    assert (len(first), len(second)) == (5, 5)
    assert not {c.row.id for c in first} & {c.row.id for c in second}
    hooks.tick(hooks.worker(clock=Clock(skipped=timedelta(minutes=5))))  # past the leases
