"""The trace and the logs: from a write's ``x-request-id`` to its audit entry, its event and
every delivery attempt of that event, on REST and on GraphQL; each log's filters, windows and
keyset pages; who may read which; other tenants' entries invisible; bad filters a 422. A real
worker delivers to a real receiver, so this module has a database of its own."""

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import Api, Credential, create_customer
from tests.receiver import Answer, Receiver
from tests.webhook_harness import Clock, Hooks


def _ok(api: Api, path: str, cred: Credential, **params: Any) -> dict[str, Any]:
    answer = api.rest("GET", path, as_=cred, params=params or None)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _all(api: Api, path: str, cred: Credential, **params: Any) -> list[dict[str, Any]]:
    """Every item of a REST list, page by page (two at a time), through its cursors."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = _ok(api, path, cred, limit=2, **params, **({"cursor": cursor} if cursor else {}))
        items += page["data"]
        if not page["has_more"]:
            assert page["next_cursor"] is None or page["data"]
            return items
        cursor = page["next_cursor"]


def _write(api: Api, cred: Credential, request_id: str) -> dict[str, Any]:
    answer = api.rest(
        "POST",
        "/customers",
        as_=cred,
        headers={"x-request-id": request_id},
        json={"display_name": f"Trace {secrets.token_hex(3)}", "given_name": "Trace"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["x-request-id"] == request_id
    body: dict[str, Any] = answer.json()
    return body


TRACE = """
query($requestId: String!, $eventId: String!) {
  auditEvents(filter: {requestId: $requestId}) { nodes { id action resourceId requestId } }
  events(filter: {requestId: $requestId}) { nodes { id type auditEventId data } }
  webhookAttempts(filter: {eventId: $eventId}) {
    nodes { id eventId webhookEndpointId webhookId status responseStatus attemptNumber trigger }
  }
}"""


def test_a_request_id_leads_to_its_audit_entry_event_and_every_delivery(
    hooks: Hooks, receiver: Receiver
) -> None:
    api, key = hooks.api, hooks.key()
    owner = api.session(org_key=key)
    endpoint = hooks.register(key, receiver.url, ["customer.*"])["webhook_endpoint"]
    second = hooks.register(key, receiver.url, ["customer.created"])["webhook_endpoint"]
    request_id = f"req-trace-{secrets.token_hex(4)}"
    customer = _write(api, key, request_id)
    worker = hooks.worker()
    assert hooks.tick(worker) == 2
    got = receiver.wait_for(2)

    (entry,) = _ok(api, "/audit_events", owner, request_id=request_id)["data"]
    assert (entry["object"], entry["action"], entry["resource_type"]) == (
        "audit_event",
        "customer.created",
        "customer",
    )
    assert (entry["resource_id"], entry["actor_type"], entry["actor_id"]) == (
        customer["id"],
        "api_key",
        key.key_id,
    )
    assert "given_name" in entry["changed_fields"]
    assert _ok(api, f"/audit_events/{entry['id']}", owner) == entry

    (event,) = _ok(api, "/events", key, request_id=request_id)["data"]
    assert (event["object"], event["type"], event["audit_event_id"]) == (
        "event",
        "customer.created",
        entry["id"],
    )
    assert event["data"]["object"] == customer  # the REST object, as the receivers got it
    assert {g.json["data"]["object"]["id"] for g in got} == {customer["id"]}
    assert _ok(api, f"/events/{event['id']}", key) == event

    attempts = _ok(api, "/webhook_attempts", key, event_id=event["id"])["data"]
    assert {a["webhook_endpoint_id"] for a in attempts} == {endpoint["id"], second["id"]}
    assert {a["webhook_id"] for a in attempts} == {g.message_id for g in got}
    for attempt in attempts:
        assert (attempt["status"], attempt["response_status"], attempt["attempt_number"]) == (
            "succeeded",
            200,
            1,
        )
        assert (attempt["trigger"], attempt["event_type"]) == ("event", "customer.created")
        assert _ok(api, f"/webhook_attempts/{attempt['id']}", key) == attempt

    # The same trace on GraphQL: an owner's session holds manage:webhooks too.
    data = api.gql(TRACE, {"requestId": request_id, "eventId": event["id"]}, as_=owner)
    assert [e["id"] for e in data["auditEvents"]["nodes"]] == [entry["id"]]
    (graphql_event,) = data["events"]["nodes"]
    assert graphql_event["auditEventId"] == entry["id"]
    assert graphql_event["data"] == event["data"]
    assert {a["id"] for a in data["webhookAttempts"]["nodes"]} == {a["id"] for a in attempts}
    assert {a["status"] for a in data["webhookAttempts"]["nodes"]} == {"SUCCEEDED"}


def test_the_delivery_history_per_endpoint_per_event_by_status_in_pages(
    hooks: Hooks, receiver: Receiver
) -> None:
    api, key = hooks.api, hooks.key()
    failing = [True]
    receiver.answer = lambda _r: Answer(status=503 if failing[0] else 204, body=b"busy")
    endpoint = hooks.register(key, receiver.url, ["customer.created"])["webhook_endpoint"]
    customers = [create_customer(api, key) for _ in range(3)]
    clock = Clock()
    worker = hooks.worker(clock)
    assert hooks.tick(worker) == 3
    failing[0] = False
    clock.advance(timedelta(minutes=1))
    assert hooks.tick(worker) == 3
    receiver.wait_for(6)

    history = _all(api, "/webhook_attempts", key, webhook_endpoint_id=endpoint["id"])
    assert len(history) == 6
    assert len({a["id"] for a in history}) == 6, "a page repeated an attempt"
    times = [a["attempted_at"] for a in history]
    assert times == sorted(times, reverse=True)  # newest first
    assert {a["status"] for a in history[:3]} == {"succeeded"}
    assert {(a["status"], a["response_status"]) for a in history[3:]} == {("failed", 503)}
    assert all(a["response_excerpt"] == "busy" for a in history[3:])
    failed = _all(
        api, "/webhook_attempts", key, webhook_endpoint_id=endpoint["id"], status="failed"
    )
    assert {a["id"] for a in failed} == {a["id"] for a in history[3:]}
    oldest_first = _all(
        api,
        "/webhook_attempts",
        key,
        webhook_endpoint_id=endpoint["id"],
        order_by="attempted_at_asc",
    )
    assert [a["id"] for a in oldest_first] == [a["id"] for a in reversed(history)]

    (first_event,) = _ok(api, "/events", key, resource_id=customers[0]["id"])["data"]
    per_event = _all(api, "/webhook_attempts", key, event_id=first_event["id"])
    assert [a["attempt_number"] for a in per_event] == [2, 1]
    assert len({a["webhook_id"] for a in per_event}) == 1  # one webhook-id for every attempt
    since = per_event[0]["attempted_at"]
    recent = _all(api, "/webhook_attempts", key, event_id=first_event["id"], attempted_since=since)
    assert [a["id"] for a in recent] == [per_event[0]["id"]]


def test_the_event_log_filters_by_type_object_and_window(hooks: Hooks) -> None:
    api, key = hooks.api, hooks.key()
    before = datetime.now(UTC)
    first, second = create_customer(api, key), create_customer(api, key)
    api.rest("PATCH", f"/customers/{first['id']}", as_=key, json={"notes": "Gate code 4411"})
    team = api.rest(
        "POST",
        "/team_members",
        as_=key,
        json={"name": "Log Tech", "email": f"{secrets.token_hex(3)}@x.test", "role": "technician"},
    )
    assert team.status_code == 201, team.text

    everything = _all(api, "/events", key, occurred_since=before.isoformat())
    assert [e["type"] for e in everything] == [
        "team_member.created",
        "customer.updated",
        "customer.created",
        "customer.created",
    ]
    assert {e["resource_id"] for e in everything[2:]} == {first["id"], second["id"]}
    created = _all(api, "/events", key, type="customer.created")
    assert [e["id"] for e in created] == [e["id"] for e in everything[2:]]
    of_customers = _all(api, "/events", key, type="customer.*")
    assert [e["id"] for e in of_customers] == [e["id"] for e in everything[1:]]
    of_first = _all(api, "/events", key, resource_id=first["id"])
    assert [e["type"] for e in of_first] == ["customer.updated", "customer.created"]
    assert of_first[0]["data"]["object"]["notes"] == "Gate code 4411"
    window = _all(
        api,
        "/events",
        key,
        occurred_since=everything[2]["occurred_at"],
        occurred_before=everything[0]["occurred_at"],
    )
    assert [e["id"] for e in window] == [e["id"] for e in everything[1:3]]
    (issued,) = _all(api, "/events", key, occurred_before=before.isoformat())
    assert (issued["type"], issued["resource_id"]) == ("api_key.created", key.key_id)
    oldest = _all(
        api, "/events", key, order_by="occurred_at_asc", occurred_since=before.isoformat()
    )
    assert [e["id"] for e in oldest] == [e["id"] for e in reversed(everything)]


def test_the_audit_log_filters_on_each_of_its_fields(hooks: Hooks) -> None:
    api, key = hooks.api, hooks.key()
    owner, admin = api.session(org_key=key), api.session(role="admin", org_key=key)
    since = {"occurred_since": datetime.now(UTC).isoformat()}  # after the sessions' members
    customer = create_customer(api, key)
    renamed = api.rest("PATCH", f"/customers/{customer['id']}", as_=key, json={"company": "Acme"})
    assert renamed.status_code == 200, renamed.text
    made_key = api.rest(
        "POST",
        "/api_keys",
        as_=owner,
        json={"name": "Audit me", "scopes": ["read:customers"], "expires_in": 3600},
    )
    assert made_key.status_code == 201, made_key.text

    def audit(**params: Any) -> list[dict[str, Any]]:
        return _all(api, "/audit_events", owner, **since, **params)

    entries = _all(api, "/audit_events", admin, **since)
    assert [e["action"] for e in entries] == [
        "api_key.created",
        "customer.updated",
        "customer.created",
    ]
    assert audit() == entries
    assert [e["action"] for e in audit(actor_type="member")] == ["api_key.created"]
    by_key = audit(actor_id=key.key_id)
    assert [e["action"] for e in by_key] == ["customer.updated", "customer.created"]
    assert [e["id"] for e in audit(action="customer.updated")] == [entries[1]["id"]]
    assert len(audit(resource_type="customer")) == 2
    assert len(audit(resource_id=customer["id"])) == 2
    (changed,) = audit(changed_field="company")
    assert (changed["id"], changed["changed_fields"]) == (entries[1]["id"], ["company"])
    assert audit(changed_field="compan") == []  # whole names only
    assert audit(changed_field="display_name") == [entries[2]]
    later = _all(api, "/audit_events", owner, occurred_since=entries[1]["occurred_at"])
    assert [e["id"] for e in later] == [e["id"] for e in entries[:2]]
    earlier = audit(occurred_before=entries[1]["occurred_at"])
    assert [e["id"] for e in earlier] == [entries[2]["id"]]


@pytest.mark.parametrize("path", ["/audit_events", "/audit_events/aud_0000000000000000000000"])
def test_the_audit_log_is_for_owners_and_admins_sessions_only(hooks: Hooks, path: str) -> None:
    api, key = hooks.api, hooks.key()
    every_scope = api.key(org=key.organization_id)
    for caller in (key, every_scope, api.session(role="technician", org_key=key)):
        refused = api.rest("GET", path, as_=caller)
        assert refused.status_code == 403, refused.text
        assert refused.json()["reason"] == "key_manager_required"


def test_the_event_log_and_history_need_manage_webhooks(hooks: Hooks) -> None:
    api, key = hooks.api, hooks.key()
    reader = api.key(org=key.organization_id, scopes=["read:customers", "write:customers"])
    for path in ("/events", "/webhook_attempts"):
        refused = api.rest("GET", path, as_=reader)
        assert refused.status_code == 403, refused.text
        assert (refused.json()["reason"], refused.json()["required_scope"]) == (
            "missing_scope",
            "manage:webhooks",
        )


def test_other_tenants_entries_are_invisible(hooks: Hooks, receiver: Receiver) -> None:
    api = hooks.api
    mine, theirs = hooks.key(), hooks.key()
    test_env = hooks.key(org=mine.organization_id, environment="test")
    request_id = f"req-mine-{secrets.token_hex(4)}"
    hooks.register(mine, receiver.url, ["customer.created"])
    _write(api, mine, request_id)
    hooks.tick(hooks.worker())
    receiver.wait_for(1)
    (event,) = _ok(api, "/events", mine, request_id=request_id)["data"]
    (attempt,) = _ok(api, "/webhook_attempts", mine, event_id=event["id"])["data"]
    (entry,) = _ok(api, "/audit_events", api.session(org_key=mine), request_id=request_id)["data"]

    for outsider in (theirs, test_env):
        boss = api.session(org_key=outsider)
        # The x-request-id is the caller's to choose: another tenant may send the same.
        assert _ok(api, "/events", outsider, request_id=request_id)["data"] == []
        assert _ok(api, "/audit_events", boss, request_id=request_id)["data"] == []
        assert _ok(api, "/webhook_attempts", outsider, event_id=event["id"])["data"] == []
        for path, caller in (
            (f"/events/{event['id']}", outsider),
            (f"/webhook_attempts/{attempt['id']}", outsider),
            (f"/audit_events/{entry['id']}", boss),
        ):
            missing = api.rest("GET", path, as_=caller)
            assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND"), path


def test_no_secret_reaches_the_logs(hooks: Hooks, receiver: Receiver) -> None:
    api, key = hooks.api, hooks.key()
    owner = api.session(org_key=key)
    made = hooks.register(key, receiver.url, ["customer.*"])
    rotated = api.rest(  # no body: the default overlap
        "POST", f"/webhook_endpoints/{made['webhook_endpoint']['id']}/rotate_secret", as_=key
    )
    assert rotated.status_code == 200, rotated.text
    overlap = datetime.fromisoformat(rotated.json()["previous_secret_valid_until"])
    assert timedelta(hours=23) < overlap - datetime.now(UTC) <= timedelta(hours=24)
    secrets_issued = [made["secret"], rotated.json()["secret"]]
    logs = [
        api.rest("GET", "/events", as_=key, params={"type": "webhook_endpoint.*"}).text,
        api.rest("GET", "/audit_events", as_=owner).text,
    ]
    assert "webhook_endpoint.secret_rotated" in logs[0]
    for text in logs:
        assert "whsec_" not in text
        assert not any(s.removeprefix("whsec_") in text for s in secrets_issued)


@pytest.mark.parametrize(
    ("path", "params", "pointer"),
    [
        ("/events", {"occurred_since": "2026-01-01T00:00:00"}, "/occurred_since"),
        ("/events", {"occurred_before": "0001-01-01T00:00:00+01:00"}, "/occurred_before"),
        ("/events", {"request_id": "req\x00"}, "/request_id"),
        ("/events", {"type": "customer\x00.*"}, "/type"),
        ("/webhook_attempts", {"status": "pending"}, "/status"),
        ("/webhook_attempts", {"attempted_since": "9999-12-31T23:00:00-05:00"}, None),
        ("/audit_events", {"changed_field": "name%"}, "/changed_field"),
        ("/audit_events", {"changed_field": ""}, "/changed_field"),
        ("/audit_events", {"actor_id": "key_\x00"}, "/actor_id"),
    ],
)
def test_a_bad_filter_is_a_422_problem(
    hooks: Hooks, path: str, params: dict[str, str], pointer: str | None
) -> None:
    api, key = hooks.api, hooks.key()
    caller = api.session(org_key=key) if path == "/audit_events" else key
    answer = api.rest("GET", path, as_=caller, params=params)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["request_id"] == answer.headers["x-request-id"]
    if pointer is not None:
        assert [e["pointer"] for e in problem["errors"]] == [pointer]
