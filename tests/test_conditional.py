"""Versions, ETags and conditional requests, on every resource and every operation that
changes one object: derived from the declared resources and routes, so a new resource or
action is covered without a line here.

- every object has a ``version`` (1 when created, one more per change) and its answers an
  ``ETag`` of it; ``If-None-Match`` gets a 304;
- ``If-Match`` (REST) and ``expectedVersion`` (GraphQL) on every update, delete and action:
  a stale one gets a 412 ``PRECONDITION_FAILED`` and writes nothing;
- two PATCHes racing over TCP with the same ``If-Match``: exactly one lands.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest
from graphql import GraphQLObjectType

from asteri.app import create_app
from asteri.kit.naming import camel, pascal
from asteri.kit.settings import Settings
from asteri.resolvers.crud import Resource
from asteri.resolvers.registry import resources
from asteri.schema import build_schema
from asteri.schema.operations import ROUTES
from asteri.schema.operations.routes import Route
from tests.factories import REST, Api, Credential, rest_input
from tests.resources import RESOURCES, ResourceCase
from tests.servers import at_once, serving

_BY_COLLECTION = {r.collection: r for r in resources()}
_CASES = {c.collection: c for c in RESOURCES}
_CHANGES = [r for r in ROUTES if r.kind in ("update", "delete", "action")]


@dataclass
class Made:
    """One new object of a resource, and a credential that may change it."""

    resource: Resource
    case: ResourceCase
    who: Credential
    id: str

    @property
    def path(self) -> str:
        return f"/{self.resource.collection}/{self.id}"


def _make(api: Api, collection: str) -> Made:
    case = _CASES[collection]
    who = case.credential(api)
    created = api.gql(case.create, {"input": case.create_input(api, who)}, as_=who)
    return Made(_BY_COLLECTION[collection], case, who, case.created_id(created))


def _body(resource: Resource, route: Route) -> dict[str, Any] | None:
    """What the route's operation takes as its body: the resource's own samples."""
    if route.kind == "update":
        return rest_input(f"Update{resource.type_name}Input", resource.change)
    if route.kind == "action":
        action = route.path.rsplit("/", 1)[-1]
        name = f"{pascal(action)}{resource.type_name}Input"
        if build_schema()._schema.get_type(name) is None:
            return None
        try:
            return rest_input(name, resource.action_input(action))
        except LookupError:  # every field of its input is optional
            return {}
    return None


def _call(api: Api, made: Made, route: Route, **headers: str) -> httpx.Response:
    return api.client.request(
        route.method,
        REST + route.path.replace("{id}", made.id),
        json=_body(made.resource, route),
        headers={**made.who.headers(), **headers},
    )


def _version(api: Api, made: Made) -> int:
    got = api.rest("GET", made.path, as_=made.who)
    assert got.status_code == 200, got.text
    version = got.json()["version"]
    assert got.headers["etag"] == f'"{version}"'
    return int(version)


def test_every_resource_type_has_a_version() -> None:
    schema = build_schema()._schema
    for resource in resources():
        type_ = schema.get_type(resource.type_name)
        assert isinstance(type_, GraphQLObjectType)
        assert str(type_.fields["version"].type) == "Int!", resource.name


def test_every_mutation_of_one_object_takes_expected_version() -> None:
    """The precondition is added to every mutation with an ``id``; none can lack it."""
    mutations = build_schema()._schema.mutation_type
    assert mutations is not None
    with_id = {n: f for n, f in mutations.fields.items() if "id" in f.args}
    assert with_id
    for name, field in with_id.items():
        assert str(field.args["expectedVersion"].type) == "Int", name
    assert all(
        "expectedVersion" not in f.args for n, f in mutations.fields.items() if n not in with_id
    )


@pytest.mark.parametrize("collection", sorted(_CASES))
def test_versions_count_changes_and_etags_revalidate(api: Api, collection: str) -> None:
    made = _make(api, collection)
    got = api.rest("GET", made.path, as_=made.who)
    assert got.json()["version"] == 1
    assert got.headers["etag"] == '"1"'

    for match in ('"1"', 'W/"1"', '"7", "1"', "*"):
        fresh = api.rest("GET", made.path, as_=made.who, headers={"If-None-Match": match})
        assert fresh.status_code == 304, (match, fresh.text)
        assert fresh.content == b""
        assert fresh.headers["etag"] == '"1"'
    stale = api.rest("GET", made.path, as_=made.who, headers={"If-None-Match": '"2"'})
    assert stale.status_code == 200
    assert stale.json()["id"] == made.id

    (update,) = [r for r in _CHANGES if r.operation == made.resource.operation("Update")]
    changed = _call(api, made, update, **{"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert changed.headers["etag"] == '"2"'
    assert _version(api, made) == 2

    # The same If-Match again is stale now: 412, and nothing written.
    refused = _call(api, made, update, **{"If-Match": '"1"'})
    assert refused.status_code == 412, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "PRECONDITION_FAILED"
    assert problem["reason"] == "version_mismatch"
    assert problem["current_version"] == 2
    assert problem["request_id"] == refused.headers["x-request-id"]
    assert _version(api, made) == 2

    # Weak tags never match If-Match (strong comparison); `*` only needs the object.
    assert _call(api, made, update, **{"If-Match": 'W/"2"'}).status_code == 412
    assert _call(api, made, update, **{"If-Match": "*"}).status_code == 200


@pytest.mark.parametrize("route", _CHANGES, ids=lambda r: f"{r.method} {r.path}")
def test_a_stale_if_match_refuses_every_change(api: Api, route: Route) -> None:
    """Every update, delete and action of every resource: 412 on a version the object no
    longer has, the object untouched; the right version is let through to the operation."""
    made = _make(api, route.path.split("/")[1])
    refused = _call(api, made, route, **{"If-Match": '"2"'})
    assert refused.status_code == 412, refused.text
    assert refused.json()["current_version"] == 1
    assert _version(api, made) == 1
    allowed = _call(api, made, route, **{"If-Match": '"1"'})
    assert allowed.status_code != 412, allowed.text
    assert allowed.status_code < 500


@pytest.mark.parametrize("header", ['"1', "1", '"1" "2"', '"1", "2"'])
def test_a_malformed_or_listed_if_match_is_a_400(api: Api, header: str) -> None:
    made = _make(api, "customers")
    (update,) = [r for r in _CHANGES if r.operation == "UpdateCustomer"]
    refused = _call(api, made, update, **{"If-Match": header})
    assert refused.status_code == 400, refused.text
    assert refused.json()["reason"] == "invalid_precondition"
    assert _version(api, made) == 1


@pytest.mark.parametrize("collection", sorted(_CASES))
def test_graphql_expected_version(api: Api, collection: str) -> None:
    made = _make(api, collection)
    t = made.resource.type_name
    update = (
        f"mutation($id: ID!, $input: Update{t}Input!, $v: Int) "
        f"{{ update{t}(id: $id, input: $input, expectedVersion: $v) {{ id version }} }}"
    )
    variables = {"id": made.id, "input": dict(made.resource.change)}
    status, error = api.error(update, {**variables, "v": 5}, as_=made.who)
    assert status == 412  # a mutation's only error sets the HTTP status, as on REST
    assert error["extensions"]["code"] == "PRECONDITION_FAILED"
    assert error["extensions"]["current_version"] == 1
    done = api.gql(update, {**variables, "v": 1}, as_=made.who)[f"update{t}"]
    assert done["version"] == 2
    root = camel(made.resource.name)
    read = api.gql(
        f"query($id: ID!) {{ {root}(id: $id) {{ version }} }}", {"id": made.id}, as_=made.who
    )
    assert read[root]["version"] == 2


def test_another_tenants_object_is_still_a_404(api: Api) -> None:
    """The precondition never tells another organization's object from an absent one."""
    made = _make(api, "customers")
    stranger = api.key()
    (update,) = [r for r in _CHANGES if r.operation == "UpdateCustomer"]
    other = Made(made.resource, made.case, stranger, made.id)
    for match in ('"1"', '"2"'):
        refused = _call(api, other, update, **{"If-Match": match})
        assert refused.status_code == 404, refused.text
    assert _version(api, made) == 1


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def _race(
    base_url: str, made: Made, bodies: list[dict[str, Any]], headers: dict[str, str]
) -> list[httpx.Response]:
    sent = {**made.who.headers(), **headers}
    return at_once(base_url, [("PATCH", f"{REST}{made.path}", body, sent) for body in bodies])


def test_racing_patches_with_one_if_match_exactly_one_wins(api: Api, base_url: str) -> None:
    """Real concurrent transactions over TCP, each naming version 1: one lands (version 2),
    every other is a 412 naming version 2, and the object holds the winner's change."""
    made = _make(api, "customers")
    names = [f"Racer {i}" for i in range(6)]
    responses = _race(base_url, made, [{"display_name": n} for n in names], {"If-Match": '"1"'})
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (len(names) - 1), [r.text for r in responses]
    (won,) = [r for r in responses if r.status_code == 200]
    assert won.json()["version"] == 2
    assert all(r.json()["current_version"] == 2 for r in responses if r.status_code == 412)
    now = api.rest("GET", made.path, as_=made.who).json()
    assert (now["version"], now["display_name"]) == (2, won.json()["display_name"])


def test_racing_patches_without_if_match_take_turns(api: Api, base_url: str) -> None:
    """Unconditional writes to one object are serialized by its lock: each lands, each counts."""
    made = _make(api, "customers")
    names = [f"Turn {i}" for i in range(5)]
    responses = _race(base_url, made, [{"display_name": n} for n in names], {})
    assert sorted(r.status_code for r in responses) == [200] * len(names), [
        r.text for r in responses
    ]
    assert sorted(r.json()["version"] for r in responses) == [2, 3, 4, 5, 6]
    assert _version(api, made) == 1 + len(names)
