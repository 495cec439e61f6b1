"""Idempotency-Key on REST POSTs, over HTTP, on both backends: replay, 422, 409, scoping."""

import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from asteri.app import create_app
from asteri.cli import main
from asteri.kit.db import utcnow
from asteri.kit.settings import Settings, get_settings
from asteri.models import AuditEntry, Event, IdempotencyRecord
from asteri.rest_facade.idempotency import LEASE, RETENTION, payload_hash
from tests.factories import REST, Api, Credential, org_pk
from tests.servers import at_once, serving

REPLAYED = "idempotent-replayed"


def _key() -> str:
    return f"idem-{secrets.token_hex(8)}"


def _post(api: Api, path: str, cred: Credential, key: str | None, body: Any = None) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else None
    return api.rest("POST", path, as_=cred, json=body, headers=headers)


def _count(engine: Engine, model: Any, cred: Credential, **where: str) -> int:
    org = org_pk(engine, cred.organization_id)
    stmt = select(func.count()).select_from(model).where(col(model.organization_id) == org)
    if model in (AuditEntry, Event):  # what requests wrote: not the operator's setup (no id)
        stmt = stmt.where(col(model.request_id).is_not(None))
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    with engine.connect() as connection:
        return int(connection.execute(stmt).scalar_one())


def _customers(api: Api, cred: Credential) -> list[str]:
    page = api.rest("GET", "/customers", as_=cred, params={"limit": 100}).json()
    return [c["id"] for c in page["data"]]


def _record(
    api: Api,
    cred: Credential,
    *,
    key: str,
    route: str,
    path: str,
    body: Any,
    state: str,
    created_at_ago: timedelta = timedelta(0),
    expires_in: timedelta = RETENTION,
    response: bytes | None = None,
) -> None:
    """A record as another (or a crashed) request left it."""
    created = utcnow() - created_at_ago
    with Session(api.engine) as session:
        session.add(
            IdempotencyRecord(
                organization_id=org_pk(api.engine, cred.organization_id),
                environment=cred.environment,
                actor_id=cred.key_id,
                route=route,
                key=key,
                request_hash=payload_hash(f"{REST}{path}", orjson.dumps(body)),
                claim_token=secrets.token_hex(16),
                state=state,
                response_status=201 if response is not None else None,
                response_content_type="application/json" if response is not None else None,
                response_body=response,
                created_at=created,
                expires_at=created + expires_in,
            )
        )
        session.commit()


def test_same_key_replays_the_first_response_byte_for_byte(api: Api) -> None:
    cred = api.key()
    key = _key()
    body = {"display_name": "Once Only", "tags": ["b", "a"], "emails": [{"address": "o@x.io"}]}
    first = _post(api, "/customers", cred, key, body)
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    # The same payload with its keys in another order is the same request.
    again = _post(api, "/customers", cred, key, dict(reversed(list(body.items()))))
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers[REPLAYED] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert _customers(api, cred) == [first.json()["id"]]
    assert _count(api.engine, AuditEntry, cred, action="customer.created") == 1
    assert _count(api.engine, Event, cred, type="customer.created") == 1
    assert _count(api.engine, IdempotencyRecord, cred) == 1


def test_same_key_with_another_payload_is_422(api: Api) -> None:
    cred = api.key()
    key = _key()
    assert _post(api, "/customers", cred, key, {"display_name": "A"}).status_code == 201
    reused = _post(api, "/customers", cred, key, {"display_name": "B"})
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    problem = reused.json()
    assert (problem["code"], problem["reason"]) == ("BAD_USER_INPUT", "idempotency_key_reused")
    assert problem["request_id"] == reused.headers["x-request-id"]
    assert REPLAYED not in reused.headers
    assert len(_customers(api, cred)) == 1


def test_same_key_on_another_object_of_the_same_route_is_422(api: Api) -> None:
    cred = api.key()
    one, two = (_post(api, "/customers", cred, None, {"display_name": n}).json() for n in "12")
    key = _key()
    assert _post(api, f"/customers/{one['id']}/archive", cred, key).status_code == 200
    other = _post(api, f"/customers/{two['id']}/archive", cred, key)
    assert (other.status_code, other.json()["reason"]) == (422, "idempotency_key_reused")
    assert api.rest("GET", f"/customers/{two['id']}", as_=cred).json()["archived"] is False


def test_a_duplicate_while_the_first_is_in_flight_is_409(api: Api) -> None:
    cred = api.key()
    key = _key()
    body = {"display_name": "Still running"}
    _record(
        api, cred, key=key, route="POST /customers", path="/customers", body=body, state="in_flight"
    )
    busy = _post(api, "/customers", cred, key, body)
    assert busy.status_code == 409
    problem = busy.json()
    assert (problem["code"], problem["reason"]) == ("CONFLICT", "idempotency_key_in_flight")
    other_payload = _post(api, "/customers", cred, key, {"display_name": "Else"})
    assert (other_payload.status_code, other_payload.json()["reason"]) == (
        422,
        "idempotency_key_reused",
    )
    assert _customers(api, cred) == []


def test_an_abandoned_claim_is_taken_over(api: Api) -> None:
    cred = api.key()
    key = _key()
    body = {"display_name": "Worker crashed"}
    _record(
        api,
        cred,
        key=key,
        route="POST /customers",
        path="/customers",
        body=body,
        state="in_flight",
        created_at_ago=LEASE + timedelta(seconds=5),
    )
    taken = _post(api, "/customers", cred, key, body)
    assert taken.status_code == 201, taken.text
    assert REPLAYED not in taken.headers
    replay = _post(api, "/customers", cred, key, body)
    assert (replay.content, replay.headers[REPLAYED]) == (taken.content, "true")
    assert _customers(api, cred) == [taken.json()["id"]]


def test_an_expired_record_is_replaced(api: Api) -> None:
    cred = api.key()
    key = _key()
    _record(
        api,
        cred,
        key=key,
        route="POST /customers",
        path="/customers",
        body={"display_name": "Yesterday"},
        state="completed",
        created_at_ago=RETENTION + timedelta(minutes=1),
        response=b'{"stale": true}',
    )
    fresh = _post(api, "/customers", cred, key, {"display_name": "Today"})
    assert fresh.status_code == 201, fresh.text
    assert REPLAYED not in fresh.headers
    assert fresh.json()["display_name"] == "Today"
    replay = _post(api, "/customers", cred, key, {"display_name": "Today"})
    assert (replay.content, replay.headers[REPLAYED]) == (fresh.content, "true")
    assert _count(api.engine, IdempotencyRecord, cred) == 1


def test_keys_are_scoped_per_api_key_and_per_route(api: Api) -> None:
    cred = api.key()
    sibling = api.key(org=cred.organization_id)
    key = _key()
    body = {"display_name": "Scoped"}
    mine = _post(api, "/customers", cred, key, body)
    theirs = _post(api, "/customers", sibling, key, body)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert REPLAYED not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    service = _post(
        api,
        "/services",
        cred,
        key,
        {
            "name": "Tune-up",
            "unit_price": {"amount": 100, "currency": "USD"},
            "duration_minutes": 5,
        },
    )
    assert service.status_code == 201, service.text
    assert REPLAYED not in service.headers
    assert len(_customers(api, cred)) == 2


def test_a_failed_write_is_stored_and_replayed_without_writing(api: Api) -> None:
    cred = api.key()
    key = _key()
    bad = {"display_name": "Bad email", "emails": [{"address": "nope"}]}
    first = _post(api, "/customers", cred, key, bad)
    assert first.status_code == 422
    assert first.json()["errors"][0]["pointer"] == "/emails/0/address"
    again = _post(api, "/customers", cred, key, bad)
    assert again.status_code == 422
    assert again.content == first.content  # byte for byte: the first request's request_id
    assert again.headers["content-type"] == "application/problem+json"
    assert again.headers[REPLAYED] == "true"
    fixed = _post(api, "/customers", cred, key, {**bad, "emails": [{"address": "ok@x.io"}]})
    assert (fixed.status_code, fixed.json()["reason"]) == (422, "idempotency_key_reused")
    assert _customers(api, cred) == []
    assert _count(api.engine, AuditEntry, cred) == 0
    assert _count(api.engine, Event, cred) == 0


def test_a_lifecycle_action_is_idempotent(api: Api) -> None:
    cred = api.key()
    customer = _post(api, "/customers", cred, None, {"display_name": "Archive me"}).json()
    key = _key()
    path = f"/customers/{customer['id']}/archive"
    first = _post(api, path, cred, key)
    assert (first.status_code, first.json()["archived"]) == (200, True)
    unarchived = _post(api, f"/customers/{customer['id']}/unarchive", cred, None)
    assert unarchived.json()["archived"] is False
    replay = _post(api, path, cred, key)  # replayed, not re-run: the customer stays unarchived
    assert (replay.status_code, replay.content) == (200, first.content)
    assert replay.headers[REPLAYED] == "true"
    assert api.rest("GET", f"/customers/{customer['id']}", as_=cred).json()["archived"] is False
    assert _count(api.engine, Event, cred, type="customer.archived") == 1


def test_a_quoted_key_is_the_same_key(api: Api) -> None:
    cred = api.key()
    key = _key()
    body = {"display_name": "Quoted"}
    first = _post(api, "/customers", cred, f'"{key}"', body)
    replay = _post(api, "/customers", cred, key, body)
    assert (first.status_code, replay.headers[REPLAYED]) == (201, "true")
    assert replay.content == first.content


@pytest.mark.parametrize("key", ["", "   ", '""', "k" * 256])
def test_an_invalid_key_is_400(api: Api, key: str) -> None:
    cred = api.key()
    response = _post(api, "/customers", cred, key, {"display_name": "Never"})
    assert response.status_code == 400
    problem = response.json()
    assert (problem["code"], problem["reason"]) == ("BAD_REQUEST", "invalid_idempotency_key")
    assert _customers(api, cred) == []


def test_the_longest_key_is_accepted(api: Api) -> None:
    cred = api.key()
    response = _post(api, "/customers", cred, "k" * 255, {"display_name": "Long key"})
    assert response.status_code == 201, response.text


def test_without_a_key_and_outside_post_nothing_is_stored(api: Api) -> None:
    cred = api.key()
    body = {"display_name": "Twice"}
    assert _post(api, "/customers", cred, None, body).status_code == 201
    second = _post(api, "/customers", cred, None, body)
    assert (second.status_code, REPLAYED in second.headers) == (201, False)
    patched = api.rest(
        "PATCH",
        f"/customers/{second.json()['id']}",
        as_=cred,
        json={"notes": "n"},
        headers={"Idempotency-Key": _key()},
    )
    assert patched.status_code == 200
    assert len(_customers(api, cred)) == 2
    assert _count(api.engine, IdempotencyRecord, cred) == 0


def test_purge_deletes_only_expired_records(api: Api, database_url: str) -> None:
    cred = api.key()
    expired, kept = _key(), _key()
    for key, ago in ((expired, RETENTION + timedelta(seconds=1)), (kept, timedelta(0))):
        _record(
            api,
            cred,
            key=key,
            route="POST /customers",
            path="/customers",
            body={},
            state="completed",
            created_at_ago=ago,
            response=b"{}",
        )
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            main, ["idempotency", "purge", "--json"], env={"ASTERI_DATABASE_URL": database_url}
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["deleted"] >= 1
    with api.engine.connect() as connection:
        left = connection.scalars(
            select(col(IdempotencyRecord.key)).where(col(IdempotencyRecord.actor_id) == cred.key_id)
        ).all()
    assert list(left) == [kept]


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def test_concurrent_duplicates_write_once(api: Api, base_url: str) -> None:
    """Real concurrency over TCP: whatever the interleaving, one write and one original."""
    cred = api.key()
    key = _key()
    body = {"display_name": "Raced"}
    workers = 8
    headers = {**cred.headers(), "Idempotency-Key": key}
    responses = at_once(base_url, [("POST", f"{REST}/customers", body, headers)] * workers)
    created = [r for r in responses if r.status_code == 201]
    busy = [r for r in responses if r.status_code == 409]
    assert len(created) + len(busy) == workers, [r.text for r in responses]
    assert len([r for r in created if REPLAYED not in r.headers]) == 1
    assert len({r.content for r in created}) == 1
    assert {r.json()["reason"] for r in busy} <= {"idempotency_key_in_flight"}
    assert _customers(api, cred) == [created[0].json()["id"]]
    assert _count(api.engine, Event, cred, type="customer.created") == 1
    settled = _post(api, "/customers", cred, key, body)
    assert (settled.content, settled.headers[REPLAYED]) == (created[0].content, "true")
