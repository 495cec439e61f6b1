"""No document can hold the server: each bound is checked before the step it protects, and
each refusal names its limit and the document's value. Costs are counted and charged."""

import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient
from graphql import get_introspection_query, parse
from sqlalchemy import Engine

from asteri.app import create_app
from asteri.kit.settings import Settings
from asteri.schema import build_schema
from asteri.schema.limits import query_cost
from tests.factories import GRAPHQL, Api, Credential, create_customer
from tests.test_rate_limits import fresh_minute


def _refusal(api: Api, cred: Credential | None, document: str, **body: Any) -> dict[str, Any]:
    response = api.client.post(
        GRAPHQL, json={"query": document, **body}, headers=cred.headers() if cred else {}
    )
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    extensions: dict[str, Any] = error["extensions"]
    assert extensions["code"] == "BAD_REQUEST"
    return extensions


def test_several_operations_need_an_operation_name(api: Api) -> None:
    cred = api.key()
    document = "query A { __typename } query B { viewer { environment } }"
    refused = _refusal(api, cred, document)
    assert (refused["reason"], refused["operations"]) == ("operation_name_required", 2)
    chosen = api.client.post(
        GRAPHQL, json={"query": document, "operationName": "B"}, headers=cred.headers()
    )
    assert chosen.json()["data"] == {"viewer": {"environment": "LIVE"}}


@pytest.mark.parametrize(
    ("document", "reason", "limit", "value"),
    [
        ('{ a(x: "' + "y" * 70_000 + '") }', "document_too_large", 65_536, ("bytes", 70_012)),
        ("{ " + "a " * 2_500 + "}", "too_many_tokens", 2_000, ("tokens", ">2000")),
        ("{ " + "__typename " * 251 + "}", "too_many_selections", 250, ("selections", 251)),
        (
            "{ __typename } " + " ".join(f"fragment F{i} on Query {{ id }}" for i in range(31)),
            "too_many_fragments",
            30,
            ("fragments", 31),
        ),
    ],
    ids=["bytes", "tokens", "selections", "fragments"],
)
def test_a_document_over_a_bound_is_refused_before_parsing_or_validating(
    api: Api, document: str, reason: str, limit: int, value: tuple[str, Any]
) -> None:
    """Unauthenticated too: the bound is checked before anything else reads the document."""
    for cred in (api.key(), None):
        refused = _refusal(api, cred, document)
        assert (refused["reason"], refused["limit"]) == (reason, limit)
        assert refused[value[0]] == value[1]


def test_the_full_introspection_query_is_within_the_bounds(api: Api) -> None:
    """What GraphiQL and codegen tools send, without a key."""
    document = get_introspection_query(
        descriptions=True, directive_is_repeatable=True, input_value_deprecation=True
    )
    response = api.client.post(GRAPHQL, json={"query": document})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


def _cost(document: str, variables: dict[str, Any] | None = None) -> int:
    return query_cost(build_schema()._schema, parse(document), None, variables)


def test_the_cost_counts_every_object_a_document_can_return() -> None:
    assert _cost("{ viewer { environment } }") == 1
    assert _cost("{ customers(first: 10) { nodes { id } pageInfo { hasNextPage } } }") == 10
    nested = "{ customers(first: 10) { nodes { id activity(first: 5) { action } } } }"
    assert _cost(nested) == 10 + 10 * 5
    assert _cost("{ customers { nodes { id } } }") == 20  # the argument's default
    with_variable = "query($n: Int = 7) { customers(first: $n) { nodes { id } } }"
    assert _cost(with_variable) == 7
    assert _cost(with_variable, {"n": 3}) == 3
    fragment = "{ a: customers(first: 4) { ...C } b: services(first: 2) { nodes { id } } }"
    assert (
        _cost(fragment + " fragment C on CustomerConnection { nodes { id emails { address } } }")
        == 4 + 4 + 2
    )


def test_a_costly_document_is_refused_and_a_cheap_one_reports_its_cost(api: Api) -> None:
    cred = api.key()
    create_customer(api, cred)
    aliases = " ".join(
        f"a{i}: customers(first: 100) {{ nodes {{ activity(first: 100) {{ action }} }} }}"
        for i in range(30)
    )
    refused = _refusal(api, cred, f"{{ {aliases} }}")
    assert (refused["reason"], refused["limit"], refused["cost"]) == (
        "query_too_costly",
        20_000,
        30 * (100 + 100 * 100),
    )
    response = api.client.post(
        GRAPHQL,
        json={"query": "{ customers(first: 50) { nodes { id } } }"},
        headers=cred.headers(),
    )
    assert response.json()["extensions"]["cost"] == {"objects": 50, "limit": 20_000, "units": 1}


def test_a_costly_document_spends_the_keys_rate_limit_in_proportion(api: Api) -> None:
    """500 objects are 5 units of a 12-a-minute key: two such documents leave 2 units, so a
    third is refused when its cost is charged (its request's own unit fitted)."""
    cred = api.key(per_minute=12)
    document = "{ customers(first: 100) { nodes { id activity(first: 4) { action } } } }"
    statuses = []
    for _ in range(3):
        response = api.client.post(GRAPHQL, json={"query": document}, headers=cred.headers())
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
    assert response.json()["errors"][0]["extensions"]["window"] == "minute"
    # The request's own unit was spent; the refused cost was not.
    assert response.headers["ratelimit"].startswith('"minute";r=1;')


def test_documents_without_a_credential_are_limited_per_address_but_introspection(
    settings: Settings, engine: Engine
) -> None:
    strict = settings.model_copy(
        update={
            "anonymous_documents_per_minute": 3,
            "redis_prefix": f"{settings.redis_prefix}anon-{secrets.token_hex(4)}:",
        }
    )
    fresh_minute()
    address = f"198.51.100.{secrets.randbelow(250) + 1}"
    with TestClient(create_app(strict), client=(address, 50000)) as client:
        api = Api(client=client, engine=engine, settings=strict)
        document = {"query": "{ customers { nodes { id } } }"}
        statuses = [client.post(GRAPHQL, json=document).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        refused = client.post(GRAPHQL, json=document)
        (error,) = refused.json()["errors"]
        assert (error["extensions"]["reason"], error["extensions"]["limit"]) == (
            "anonymous_documents",
            3,
        )
        assert refused.headers["retry-after"].isdigit()
        introspection = client.post(GRAPHQL, json={"query": "{ __schema { queryType { name } } }"})
        assert introspection.status_code == 200
        # A hundred lookups are not what an explorer sends: they spend the budget (spent).
        lookups = " ".join(f'a{i}: __type(name: "Customer") {{ name }}' for i in range(100))
        many = client.post(GRAPHQL, json={"query": f"{{ {lookups} }}"})
        assert many.status_code == 429, many.text
        keyed = client.post(GRAPHQL, json=document, headers=api.key().headers())
        assert keyed.status_code == 200, keyed.text


def test_fragments_that_expand_exponentially_are_refused_unexpanded(api: Api) -> None:
    """25 fragments, each spreading the next twice: 78 selections as text, 2^25 expanded."""
    depth = 25
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(depth)]
    document = " ".join(["{ ...F0 }", *fragments, f"fragment F{depth} on Query {{ __typename }}"])
    refused = _refusal(api, api.key(), document)
    assert (refused["reason"], refused["limit"]) == ("too_many_expansions", 10_000)
    assert refused["expansions"] == 2 ** (depth + 1) - 1 + 2**depth  # spreads and the leaves


def test_a_fragment_cycle_is_refused_before_validation(api: Api) -> None:
    """30 fragments, each spreading the next seven, no field (241 selections, within the
    limit): the paths through them are countless (the depth and alias rules, and a cost walk,
    would follow each of them); a cycle is refused at once, with or without a key."""
    names = [f"F{i}" for i in range(30)]
    spreads = [" ".join(f"...F{(i + j) % 30}" for j in range(1, 8)) for i in range(30)]
    fragments = [f"fragment {n} on Query {{ {s} }}" for n, s in zip(names, spreads, strict=True)]
    document = " ".join(["{ ...F0 }", *fragments])
    for cred in (api.key(), None):
        refused = _refusal(api, cred, document)
        assert refused["reason"] == "fragment_cycle", refused
        assert refused["fragment"] in names


def test_an_empty_selection_set_is_refused(api: Api) -> None:
    refused = _refusal(api, api.key(), "{ customers { } }")
    assert refused["reason"] == "empty_selection"


def test_many_fields_under_one_name_are_refused(api: Api) -> None:
    """Validation compares fields that answer under one name in pairs: 124 of them is
    15,000 comparisons. Aliased apart they are not compared."""
    same = " ".join('customer(id: "cus_x") { id }' for _ in range(124))
    refused = _refusal(api, api.key(), f"{{ {same} }}")
    assert (refused["reason"], refused["limit"], refused["fields"]) == (
        "too_many_same_name",
        20,
        21,
    )
    aliased = " ".join(f'c{i}: customer(id: "cus_x") {{ id }}' for i in range(20))
    response = api.client.post(
        GRAPHQL, json={"query": f"{{ {aliased} }}"}, headers=api.key().headers()
    )
    assert "too_many_same_name" not in response.text
