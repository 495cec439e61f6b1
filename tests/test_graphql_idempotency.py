"""Idempotency-Key on a GraphQL mutation, over HTTP, on both backends: the REST meaning — the
same replay, the same 422 and 409 — for a request that runs one mutation; a 400 elsewhere."""

import secrets
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from sqlmodel import Session, col, select

from asteri.app import GRAPHQL_ROUTE, create_app
from asteri.kit.db import utcnow
from asteri.kit.settings import Settings
from asteri.models import ApiKey, AuditEntry, Event, IdempotencyRecord
from asteri.rest_facade.idempotency import RETENTION, payload_hash
from asteri.schema import build_schema
from tests.factories import GRAPHQL, Api, Credential, create_customer, org_pk
from tests.servers import at_once, serving
from tests.test_idempotency import REPLAYED, _count, _customers, _key
from tests.test_rate_limits import fresh_minute, ratelimit
from tests.test_security_center import CREATE, ROTATE, _new_key

CREATE_CUSTOMER = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) { id displayName tags emails { address } createdAt }
}"""
ARCHIVE = "mutation($id: ID!) { archiveCustomer(id: $id) { id archived } }"
UNARCHIVE = "mutation($id: ID!) { unarchiveCustomer(id: $id) { id archived } }"


def _send(
    api: Api, cred: Credential | None, key: str | None, body: Any, *, method: str = "POST"
) -> httpx.Response:
    """A raw GraphQL request: ``body`` is the JSON sent, as a client would send it."""
    headers = {**(cred.headers() if cred else {}), **({"Idempotency-Key": key} if key else {})}
    if method == "GET":
        return api.client.get(GRAPHQL, params=body, headers=headers)
    return api.client.post(GRAPHQL, content=orjson.dumps(body), headers=headers | _JSON)


_JSON = {"content-type": "application/json"}


def _create(display_name: str, **fields: Any) -> dict[str, Any]:
    return {
        "query": CREATE_CUSTOMER,
        "variables": {"input": {"displayName": display_name, **fields}},
    }


def _records(api: Api, cred: Credential) -> list[IdempotencyRecord]:
    with Session(api.engine) as session:
        found = session.exec(
            select(IdempotencyRecord).where(col(IdempotencyRecord.actor_id) == cred.key_id)
        )
        return list(found.all())


def test_same_key_replays_the_first_answer_byte_for_byte(api: Api) -> None:
    cred = api.key()
    key = _key()
    body = _create("Once Only", tags=["b", "a"], emails=[{"address": "o@x.io"}])
    first = _send(api, cred, key, body)
    assert first.status_code == 200, first.text
    assert REPLAYED not in first.headers
    created = first.json()["data"]["createCustomer"]
    # The same request with its members in another order is the same request.
    again = _send(api, cred, key, dict(reversed(list(body.items()))))
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers[REPLAYED] == "true"
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert _customers(api, cred) == [created["id"]]
    assert _count(api.engine, AuditEntry, cred, action="customer.created") == 1
    assert _count(api.engine, Event, cred, type="customer.created") == 1
    [record] = _records(api, cred)
    assert (record.route, record.state, record.response_status) == (GRAPHQL_ROUTE, "completed", 200)
    assert record.response_body == first.content


def test_a_persisted_operation_by_hash_is_replayed(api: Api) -> None:
    cred = api.key()
    key = _key()
    op = build_schema().persisted.by_name["CreateCustomer"]
    body = {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": op.sha256}},
        "variables": {"input": {"displayName": "By hash"}},
    }
    first = _send(api, cred, key, body)
    assert first.status_code == 200, first.text
    again = _send(api, cred, key, body)
    assert (again.content, again.headers[REPLAYED]) == (first.content, "true")
    assert _customers(api, cred) == [first.json()["data"]["createCustomer"]["id"]]


def test_a_body_read_as_graphql_reads_it_is_still_idempotent(api: Api) -> None:
    """GraphQL's JSON reading takes ``NaN`` (here an unused variable), which strict parsers
    refuse: the key must hold for what GraphQL runs, not fall back to running it twice."""
    cred = api.key()
    key = _key()
    body = (
        b'{"query": "mutation { createCustomer(input: {displayName: \\"Big\\"}) { id } }", '
        b'"variables": {"unused": NaN}}'
    )
    headers = {**cred.headers(), **_JSON, "Idempotency-Key": key}
    first = api.client.post(GRAPHQL, content=body, headers=headers)
    assert first.status_code == 200, first.text
    again = api.client.post(GRAPHQL, content=body, headers=headers)
    assert (again.content, again.headers[REPLAYED]) == (first.content, "true")
    assert len(_customers(api, cred)) == 1


def test_same_key_with_other_variables_is_422(api: Api) -> None:
    cred = api.key()
    key = _key()
    assert _send(api, cred, key, _create("A")).status_code == 200
    reused = _send(api, cred, key, _create("B"))
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    problem = reused.json()
    assert (problem["code"], problem["reason"]) == ("BAD_USER_INPUT", "idempotency_key_reused")
    assert problem["request_id"] == reused.headers["x-request-id"]
    assert REPLAYED not in reused.headers
    assert len(_customers(api, cred)) == 1


def test_a_duplicate_while_the_first_is_in_flight_is_409(api: Api) -> None:
    """The first request's claim, as a request still running leaves it."""
    cred = api.key()
    key = _key()
    body = _create("Still running")
    now = utcnow()
    with Session(api.engine) as session:
        session.add(
            IdempotencyRecord(
                organization_id=org_pk(api.engine, cred.organization_id),
                environment=cred.environment,
                actor_id=cred.key_id,
                route=GRAPHQL_ROUTE,
                key=key,
                request_hash=payload_hash(GRAPHQL, orjson.dumps(body)),
                claim_token=secrets.token_hex(16),
                state="in_flight",
                created_at=now,
                expires_at=now + RETENTION,
            )
        )
        session.commit()
    busy = _send(api, cred, key, body)
    assert busy.status_code == 409, busy.text
    assert busy.headers["content-type"] == "application/problem+json"
    problem = busy.json()
    assert (problem["code"], problem["reason"]) == ("CONFLICT", "idempotency_key_in_flight")
    other = _send(api, cred, key, _create("Else"))
    assert (other.status_code, other.json()["reason"]) == (422, "idempotency_key_reused")
    assert _customers(api, cred) == []
    assert _count(api.engine, Event, cred) == 0


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def test_concurrent_duplicates_write_once(api: Api, base_url: str) -> None:
    """Real concurrency over TCP: whatever the interleaving, one write and one original."""
    cred = api.key()
    key = _key()
    body = orjson.dumps(_create("Raced"))
    workers = 8
    headers = {**cred.headers(), **_JSON, "Idempotency-Key": key}
    responses = at_once(base_url, [("POST", GRAPHQL, body, headers)] * workers)
    answered = [r for r in responses if r.status_code == 200]
    busy = [r for r in responses if r.status_code == 409]
    assert len(answered) + len(busy) == workers, [r.text for r in responses]
    assert len([r for r in answered if REPLAYED not in r.headers]) == 1
    assert len({r.content for r in answered}) == 1
    assert {r.json()["reason"] for r in busy} <= {"idempotency_key_in_flight"}
    created = answered[0].json()["data"]["createCustomer"]["id"]
    assert _customers(api, cred) == [created]
    assert _count(api.engine, Event, cred, type="customer.created") == 1
    settled = _send(api, cred, key, orjson.loads(body))
    assert (settled.content, settled.headers[REPLAYED]) == (answered[0].content, "true")


def test_each_concurrent_answer_keeps_its_own_status(api: Api, base_url: str) -> None:
    """An Idempotency-Key request awaits its claim before GraphQL runs: meanwhile other
    requests arrive, and its answer must still carry its own status (here 422), not theirs."""
    cred = api.key()
    bad = orjson.dumps(_create("Bad email", emails=[{"address": "nope"}]))
    fine = orjson.dumps({"query": "{ viewer { credentialId } }"})
    rounds, workers = 3, 12
    statuses: list[tuple[bool, int]] = []

    def request(keyed: bool) -> tuple[str, str, bytes, dict[str, str]]:
        headers = {**cred.headers(), **_JSON, **({"Idempotency-Key": _key()} if keyed else {})}
        return ("POST", GRAPHQL, bad if keyed else fine, headers)

    for _ in range(rounds):
        answers = at_once(base_url, [request(n % 2 == 0) for n in range(workers)])
        statuses += [("idempotency-key" in r.request.headers, r.status_code) for r in answers]
    assert len(statuses) == rounds * workers
    assert {status for keyed, status in statuses if keyed} == {422}
    assert {status for keyed, status in statuses if not keyed} == {200}
    assert {r.response_status for r in _records(api, cred)} == {422}


def test_a_failed_mutation_is_stored_and_replayed_without_writing(api: Api) -> None:
    cred = api.key()
    key = _key()
    bad = _create("Bad email", emails=[{"address": "nope"}])
    first = _send(api, cred, key, bad)
    assert first.status_code == 422, first.text
    assert first.headers["content-type"] == "application/json"  # a GraphQL answer
    answer = first.json()
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["errors"][0]["pointer"] == "/input/emails/0/address"
    again = _send(api, cred, key, bad)
    assert again.status_code == 422
    assert again.content == first.content  # byte for byte: the first request's request_id
    assert again.headers[REPLAYED] == "true"
    fixed = _send(api, cred, key, _create("Bad email", emails=[{"address": "ok@x.io"}]))
    assert (fixed.status_code, fixed.json()["reason"]) == (422, "idempotency_key_reused")
    assert _customers(api, cred) == []
    assert _count(api.engine, AuditEntry, cred) == 0
    assert _count(api.engine, Event, cred) == 0
    [record] = _records(api, cred)
    assert (record.state, record.response_status) == ("completed", 422)


def test_a_lifecycle_mutation_is_replayed_not_run_again(api: Api) -> None:
    cred = api.key()
    customer = create_customer(api, cred)
    key = _key()
    body = {"query": ARCHIVE, "variables": {"id": customer["id"]}}
    first = _send(api, cred, key, body)
    assert first.json()["data"]["archiveCustomer"]["archived"] is True, first.text
    api.gql(UNARCHIVE, {"id": customer["id"]}, as_=cred)
    replay = _send(api, cred, key, body)
    assert (replay.content, replay.headers[REPLAYED]) == (first.content, "true")
    got = api.rest("GET", f"/customers/{customer['id']}", as_=cred).json()
    assert got["archived"] is False  # replayed, not re-run
    assert _count(api.engine, Event, cred, type="customer.archived") == 1


NOT_APPLICABLE = [
    pytest.param({"query": "{ customers(first: 1) { nodes { id } } }"}, "POST", id="query"),
    pytest.param(
        {
            "query": 'mutation { a: createCustomer(input: {displayName: "A"}) { id } '
            'b: createCustomer(input: {displayName: "B"}) { id } }'
        },
        "POST",
        id="two-mutation-fields",
    ),
    pytest.param(
        {
            "query": "mutation { ...Both } fragment Both on Mutation { "
            'createCustomer(input: {displayName: "A"}) { id } '
            'archiveCustomer(id: "cus_x") { id } }'
        },
        "POST",
        id="two-fields-through-a-fragment",
    ),
    pytest.param({"query": "mutation { __typename }"}, "POST", id="no-mutation-field"),
    pytest.param(
        {
            "query": "query Read { customers(first: 1) { nodes { id } } } "
            'mutation Write { createCustomer(input: {displayName: "A"}) { id } }',
            "operationName": "Read",
        },
        "POST",
        id="the-selected-operation-is-a-query",
    ),
    pytest.param([_create("A"), _create("B")], "POST", id="batch"),
    pytest.param({"query": "{ viewer { credentialId } }"}, "GET", id="get"),
]


@pytest.mark.parametrize(("body", "method"), NOT_APPLICABLE)
def test_a_key_on_anything_but_one_mutation_is_400(api: Api, body: Any, method: str) -> None:
    cred = api.key()
    response = _send(api, cred, _key(), body, method=method)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["reason"]) == ("BAD_REQUEST", "idempotency_key_not_applicable")
    assert problem["instance"] == GRAPHQL
    assert _customers(api, cred) == []
    assert _records(api, cred) == []


def test_a_key_on_one_of_several_operations_applies_to_the_mutation(api: Api) -> None:
    cred = api.key()
    key = _key()
    body = {
        "query": "query Read { customers(first: 1) { nodes { id } } } "
        'mutation Write { __typename createCustomer(input: {displayName: "W"}) { id } }',
        "operationName": "Write",
    }
    first = _send(api, cred, key, body)
    assert first.status_code == 200, first.text
    again = _send(api, cred, key, body)
    assert (again.content, again.headers[REPLAYED]) == (first.content, "true")
    assert len(_customers(api, cred)) == 1


@pytest.mark.parametrize("key", ["", "   ", '""', "k" * 256])
def test_an_invalid_key_is_400(api: Api, key: str) -> None:
    cred = api.key()
    headers = {**cred.headers(), "Idempotency-Key": key}
    response = api.client.post(GRAPHQL, json=_create("Never"), headers=headers)
    assert response.status_code == 400
    problem = response.json()
    assert (problem["code"], problem["reason"]) == ("BAD_REQUEST", "invalid_idempotency_key")
    assert _customers(api, cred) == []


def test_a_request_refused_before_it_runs_stores_nothing(api: Api) -> None:
    """Bad credentials, a missing scope or a bad document: GraphQL's own answer, no record —
    so the same key runs the request once the cause is fixed (as REST's pre-flight)."""
    reader = api.key(scopes=["read:customers"])
    key = _key()
    body = _create("Not yet")
    refused = _send(api, reader, key, body)
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["extensions"]["reason"] == "missing_scope"
    assert REPLAYED not in refused.headers
    for document in ("mutation { createCustomer(", "mutation { createCustomer { nope } }"):
        invalid = _send(api, reader, key, {"query": document})
        assert invalid.status_code == 400, invalid.text
        assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    unauthenticated = _send(api, None, key, body)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert _records(api, reader) == []
    writer = api.key(org=reader.organization_id, scopes=["write:customers", "read:customers"])
    done = _send(api, writer, key, body)  # another key: the same value is its own key
    assert done.status_code == 200, done.text
    assert REPLAYED not in done.headers
    assert _count(api.engine, IdempotencyRecord, reader) == 1  # the writer's only


def test_a_key_costs_one_request_and_a_spent_budget_stores_nothing(api: Api) -> None:
    """Authenticated once (the claim needs the principal, then GraphQL finds it done); over
    the limit, GraphQL's own 429, before the document is read, and no record."""
    fresh_minute()
    cred = api.key(per_minute=2, per_day=100)
    key = _key()
    first = _send(api, cred, key, _create("Counted once"))
    assert first.status_code == 200, first.text
    assert ratelimit(first)[:2] == ("minute", 1)
    replay = _send(api, cred, key, _create("Counted once"))
    assert (replay.headers[REPLAYED], ratelimit(replay)[:2]) == ("true", ("minute", 0))
    for body in (_create("Over the limit"), {"query": "mutation { createCustomer { nope } }"}):
        refused = _send(api, cred, _key(), body)
        assert refused.status_code == 429, refused.text
        assert refused.json()["data"] is None
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert len(_records(api, cred)) == 1
    assert len(_customers(api, api.key(org=cred.organization_id))) == 1


def test_a_one_time_secret_is_never_stored(api: Api) -> None:
    """createApiKey and rotateApiKey, as REST's create and rotate routes declare: a retry gets
    a 409 naming what was made, and no table holds a secret."""
    owner = api.session(role="owner")
    key = _key()
    body = {"query": CREATE, "variables": {"input": _new_key(name="Once over GraphQL")}}
    first = _send(api, owner, key, body)
    assert first.status_code == 200, first.text
    created = first.json()["data"]["createApiKey"]
    retry = _send(api, owner, key, body)
    assert retry.status_code == 409, retry.text
    assert retry.headers[REPLAYED] == "true"
    assert retry.headers["content-type"] == "application/problem+json"
    problem = retry.json()
    assert (problem["reason"], problem["resource_id"]) == (
        "secret_not_replayed",
        created["apiKey"]["id"],
    )
    assert created["secret"] not in retry.text

    rotate_key = _key()
    rotation = {"query": ROTATE, "variables": {"id": created["apiKey"]["id"], "input": {}}}
    rotated = _send(api, owner, rotate_key, rotation)
    assert rotated.status_code == 200, rotated.text
    successor = rotated.json()["data"]["rotateApiKey"]
    again = _send(api, owner, rotate_key, rotation)
    assert (again.status_code, again.json()["reason"]) == (409, "secret_not_replayed")
    assert again.json()["resource_id"] == successor["apiKey"]["id"]

    stored = [bytes(r.response_body or b"") for r in _records(api, owner)]
    assert len(stored) == 2
    for secret in (created["secret"], successor["secret"]):
        assert not any(secret.encode() in b for b in stored)
    org = org_pk(api.engine, owner.organization_id)
    with api.engine.connect() as connection:
        names = connection.scalars(
            select(col(ApiKey.name)).where(col(ApiKey.organization_id) == org)
        ).all()
    assert list(names).count("Once over GraphQL") == 2  # the created key and its successor


def test_rest_and_graphql_uses_of_one_key_do_not_collide(api: Api) -> None:
    cred = api.key()
    key = _key()
    headers = {"Idempotency-Key": key}
    rest = api.rest("POST", "/customers", as_=cred, json={"display_name": "Twice"}, headers=headers)
    assert rest.status_code == 201, rest.text
    graphql = _send(api, cred, key, _create("Twice"))
    assert graphql.status_code == 200, graphql.text
    assert REPLAYED not in graphql.headers
    made = graphql.json()["data"]["createCustomer"]["id"]
    assert made != rest.json()["id"]
    rest_again = api.rest(
        "POST", "/customers", as_=cred, json={"display_name": "Twice"}, headers=headers
    )
    graphql_again = _send(api, cred, key, _create("Twice"))
    assert (rest_again.content, rest_again.headers[REPLAYED]) == (rest.content, "true")
    assert (graphql_again.content, graphql_again.headers[REPLAYED]) == (graphql.content, "true")
    assert sorted(_customers(api, cred)) == sorted([made, rest.json()["id"]])
    assert sorted(r.route for r in _records(api, cred)) == ["POST /customers", GRAPHQL_ROUTE]


def test_without_a_key_nothing_is_stored(api: Api) -> None:
    cred = api.key()
    ids = {_send(api, cred, None, _create("Twice")).json()["data"]["createCustomer"]["id"]}
    ids.add(_send(api, cred, None, _create("Twice")).json()["data"]["createCustomer"]["id"])
    assert len(ids) == 2
    assert _records(api, cred) == []
