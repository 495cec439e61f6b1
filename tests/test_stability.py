"""Stability is visible: each collection declares it once (``Collection.stability``); its
routes, OpenAPI operations and tags carry it (``x-stability``), and every answer of a preview —
REST or GraphQL, success or error — says ``x-stability: preview``. Available answers carry no
such header."""

import secrets

import httpx2 as httpx
import pytest

from asteri.app import create_app
from asteri.resolvers.crud import Collection, Stability
from asteri.resolvers.registry import logs, resources
from asteri.schema import build_schema
from asteri.schema.operations import ROUTES, Route, routes_of
from asteri.schema.stability import STABILITY_HEADER
from tests.factories import GRAPHQL, Api, create_customer

PREVIEW, AVAILABLE = Stability.PREVIEW, Stability.AVAILABLE
# The developer portal's cards: "Private preview" or "Available now". Team members have no
# card (preview); the logs belong to webhooks (available).
BRIEF = {
    "customer": PREVIEW,
    "team_member": PREVIEW,
    "service": PREVIEW,
    "appointment": PREVIEW,
    "estimate": PREVIEW,
    "invoice": PREVIEW,
    "payment": PREVIEW,
    "webhook_endpoint": AVAILABLE,
    "api_key": AVAILABLE,
    "event": AVAILABLE,
    "audit_event": AVAILABLE,
    "webhook_attempt": AVAILABLE,
}
MISSING_CUSTOMER = "cus_" + "0" * 22
MISSING_ENDPOINT = "we_" + "0" * 22


def _collections() -> list[Collection]:
    return [*resources(), *logs()]


def _route_stability() -> dict[str, Stability]:
    """Each route's stability by its operation (also its OpenAPI operationId)."""
    return {route.operation: route.stability for route in ROUTES}


def test_every_collection_declares_its_stability_as_the_brief_says() -> None:
    declared = {c.name: c.stability for c in _collections()}
    assert all(isinstance(s, Stability) for s in declared.values())
    assert declared == BRIEF


def test_every_route_has_its_collections_stability() -> None:
    own: set[Route] = set()
    for collection in _collections():
        for route in routes_of(collection):
            assert route.stability is collection.stability, route
            own.add(route)
    others = {(r.path, r.stability) for r in ROUTES if r not in own}
    assert others == {("/viewer", AVAILABLE), ("/event_types", AVAILABLE)}


def test_every_root_field_has_a_stability() -> None:
    """Each root field is run by a route, so a GraphQL answer's stability is never a guess."""
    schema = build_schema()
    graphql = schema._schema
    assert graphql.query_type is not None
    assert graphql.mutation_type is not None
    fields = set(graphql.query_type.fields) | set(graphql.mutation_type.fields)
    routed = {schema.persisted.by_name[r.operation].root_field for r in ROUTES}
    assert fields == routed
    assert schema.preview_fields == {
        schema.persisted.by_name[r.operation].root_field for r in ROUTES if r.stability is PREVIEW
    }
    assert {"customer", "createCustomer", "invoices"} <= schema.preview_fields
    assert not {"webhookEndpoints", "viewer", "eventTypes", "events"} & schema.preview_fields


def test_every_openapi_operation_carries_its_routes_stability() -> None:
    doc = create_app().openapi()
    expected = _route_stability()
    seen = set()
    for item in doc["paths"].values():
        for operation in item.values():
            stability = expected[operation["operationId"]]
            assert operation["x-stability"] == stability.value, operation["operationId"]
            for status, response in operation["responses"].items():
                declared = "X-Stability" in response.get("headers", {})
                assert declared == (stability is PREVIEW), (operation["operationId"], status)
            assert ("Private preview" in operation["description"]) == (stability is PREVIEW)
            seen.add(operation["operationId"])
    assert seen == set(expected)
    tags = {route.tag: route.stability.value for route in ROUTES}
    assert {t["name"]: t["x-stability"] for t in doc["tags"]} == tags
    for webhook in doc["webhooks"].values():
        assert webhook["post"]["x-stability"] in {PREVIEW.value, AVAILABLE.value}
    assert doc["webhooks"]["customer.created"]["post"]["x-stability"] == PREVIEW.value
    assert doc["webhooks"]["webhook_endpoint.created"]["post"]["x-stability"] == AVAILABLE.value


def _preview(response: httpx.Response) -> bool:
    value = response.headers.get(STABILITY_HEADER)
    assert value in (None, PREVIEW.value), value
    return value == PREVIEW.value


def test_a_preview_routes_answers_say_so(api: Api) -> None:
    cred = api.key()
    customer = create_customer(api, cred)
    found = api.rest("GET", f"/customers/{customer['id']}", as_=cred)
    assert found.status_code == 200
    assert _preview(found)
    missing = api.rest("GET", f"/customers/{MISSING_CUSTOMER}", as_=cred)
    assert missing.status_code == 404
    assert _preview(missing)
    listed = api.rest("GET", "/customers", as_=cred, params={"limit": 1})
    assert listed.status_code == 200
    assert _preview(listed)
    assert _preview(api.rest("GET", "/customers", as_=cred, params={"limit": 0}))  # 422
    unauthenticated = api.rest("GET", f"/customers/{customer['id']}")
    assert unauthenticated.status_code == 401
    assert _preview(unauthenticated)
    head = api.client.head(f"/api/public/v1/customers/{customer['id']}", headers=cred.headers())
    assert head.status_code == 200
    assert _preview(head)


def test_a_preview_routes_writes_say_so(api: Api) -> None:
    """The routes FastAPI serves (writes), their validation refusals included."""
    cred = api.key()
    created = api.rest("POST", "/customers", as_=cred, json={"display_name": "Ada"})
    assert created.status_code == 201, created.text
    assert _preview(created)
    invalid = api.rest("POST", "/customers", as_=cred, json={"display_name": 5})
    assert invalid.status_code == 422
    assert _preview(invalid)
    key = {"Idempotency-Key": secrets.token_hex(8)}
    path = f"/customers/{created.json()['id']}/archive"
    first = api.rest("POST", path, as_=cred, headers=key)
    replayed = api.rest("POST", path, as_=cred, headers=key)
    assert first.status_code == replayed.status_code == 200
    assert replayed.headers.get("idempotent-replayed") == "true"
    assert _preview(first)
    assert _preview(replayed)
    missing = api.rest("POST", f"/customers/{MISSING_CUSTOMER}/archive", as_=cred)
    assert missing.status_code == 404
    assert _preview(missing)


@pytest.mark.parametrize(
    "path",
    ["/webhook_endpoints", f"/webhook_endpoints/{MISSING_ENDPOINT}", "/event_types", "/viewer"],
)
def test_an_available_routes_answers_do_not(api: Api, path: str) -> None:
    cred = api.key()
    answer = api.rest("GET", path, as_=cred)
    assert answer.status_code == (404 if MISSING_ENDPOINT in path else 200), answer.text
    assert not _preview(answer)
    assert not _preview(api.rest("GET", path))  # 401


def test_pages_and_documents_say_nothing(api: Api) -> None:
    assert not _preview(api.client.get("/api/public/v1/openapi.json"))
    assert not _preview(api.rest("GET", "/nowhere", as_=api.key()))


CUSTOMER = "query($id: ID!) { customer(id: $id) { id } }"
CUSTOMER_BY_FRAGMENT = """
query($id: ID!) { ...Root }
fragment Root on Query { ... on Query { customer(id: $id) { id } } }"""
ENDPOINTS = "{ webhookEndpoints(first: 1) { nodes { id } } }"
TWO_OPERATIONS = "query Two { viewer { scopes } } query One { customers { nodes { id } } }"
BOTH = "{ webhookEndpoints(first: 1) { nodes { id } } customers(first: 1) { nodes { id } } }"


def test_graphql_answers_touching_a_preview_say_so(api: Api) -> None:
    cred = api.key()
    customer = create_customer(api, cred)
    found = api.post(CUSTOMER, {"id": customer["id"]}, as_=cred)
    assert found.status_code == 200
    assert found.json()["data"]["customer"]["id"] == customer["id"]
    assert _preview(found)
    missing = api.post(CUSTOMER, {"id": MISSING_CUSTOMER}, as_=cred)
    assert missing.json()["errors"]
    assert _preview(missing)
    assert _preview(api.post(CUSTOMER_BY_FRAGMENT, {"id": customer["id"]}, as_=cred))
    assert _preview(api.post(BOTH, as_=cred))
    assert _preview(api.post(CUSTOMER, {"id": customer["id"]}))  # 401
    by_name = api.client.post(
        GRAPHQL,
        json={
            "query": TWO_OPERATIONS,
            "operationName": "One",
        },
        headers=cred.headers(),
    )
    assert by_name.status_code == 200, by_name.text
    assert _preview(by_name)
    other = api.client.post(
        GRAPHQL, json={"query": TWO_OPERATIONS, "operationName": "Two"}, headers=cred.headers()
    )
    assert other.status_code == 200, other.text
    assert not _preview(other)  # only the operation that runs counts


def test_graphql_persisted_operations_and_replays_say_so(api: Api) -> None:
    cred = api.key()
    persisted = build_schema().persisted.by_name
    by_hash = api.client.post(
        GRAPHQL,
        json={
            "extensions": {
                "persistedQuery": {"version": 1, "sha256Hash": persisted["ListCustomers"].sha256}
            },
            "variables": {},
        },
        headers=cred.headers(),
    )
    assert by_hash.status_code == 200, by_hash.text
    assert _preview(by_hash)
    key = {"Idempotency-Key": secrets.token_hex(8)}
    create = 'mutation { createCustomer(input: {displayName: "Ada"}) { id } }'
    first = api.post(create, as_=cred, headers=key)
    replayed = api.post(create, as_=cred, headers=key)
    assert replayed.headers.get("idempotent-replayed") == "true"
    assert first.json() == replayed.json()
    assert _preview(first)
    assert _preview(replayed)


def test_graphql_answers_touching_only_available_fields_do_not(api: Api) -> None:
    cred = api.key()
    for query in (ENDPOINTS, "{ viewer { scopes } }", "{ eventTypes { name } }"):
        answer = api.post(query, as_=cred)
        assert answer.status_code == 200, answer.text
        assert "errors" not in answer.json()
        assert not _preview(answer)
    assert not _preview(api.post("{ __schema { queryType { name } } }"))
    missing = api.post(
        "query($id: ID!) { webhookEndpoint(id: $id) { id } }", {"id": MISSING_ENDPOINT}, as_=cred
    )
    assert missing.json()["errors"]
    assert not _preview(missing)
