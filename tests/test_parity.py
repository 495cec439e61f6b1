"""REST ⇄ GraphQL parity, generated from ``ROUTES``: every REST route answers exactly like its
persisted operation sent to ``POST /graphql`` with the equivalent (camelCase) variables.

For each route and each case (no key, wrong organization, missing scope, another
organization's id, good call) both surfaces must give the same HTTP status and the same
``code``/``reason``/``required_scope``, and a good call the same data (REST snake_case, GraphQL
camelCase). The create and update bodies are each resource's own sample input and update
(``Resource.sample``, ``Resource.change``), and so are its actions' (``Resource.action_input``).
The security center's routes are called with an owner's session, and have one more case: an
API key with every scope is refused all the same.
"""

import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx2 as httpx
import pytest
from graphql import OperationDefinitionNode
from sqlalchemy import Engine

from asteri.authz.roles import ROLE_SCOPES
from asteri.kit.naming import camel, snake, snake_keys
from asteri.kit.settings import Settings
from asteri.resolvers.crud import Resource
from asteri.resolvers.lifecycle import Transition
from asteri.resolvers.registry import logs
from asteri.schema import build_schema
from asteri.schema.operations import LIST_PARAMETERS, ROUTES, Route
from asteri.schema.persisted import PersistedOperation, Registry
from tests.factories import (
    ALL_SCOPES,
    Api,
    Bearer,
    Credential,
    action_body,
    graphql_view,
    log_entry,
    rest_input,
    rest_view,
    sample_context,
    sample_input,
    steps_to,
    without_pacing,
)
from tests.resources import declared_resources

# Each route tag's resource: its one sample create input (its references made in the caller's
# tenant) and update, in REST naming.
_BY_TAG = {r.collection.replace("_", " "): r for r in declared_resources()}
# Each log's (``crud.Log``): its entries are written by the service, not by a route.
_LOG_BY_TAG = {log.collection.replace("_", " "): log for log in logs()}
CREATE_BODY: dict[str, Callable[[Api, Credential, str], dict[str, Any]]] = {
    tag: (
        lambda api, cred, s, r=r: rest_input(  # type: ignore[misc]
            f"Create{r.type_name}Input", sample_input(api, r, cred, distinct=f"-{s}")
        )
    )
    for tag, r in _BY_TAG.items()
    if r.sample is not None
}
UPDATE_BODY: dict[str, dict[str, Any]] = {
    tag: rest_input(f"Update{r.type_name}Input", r.change) for tag, r in _BY_TAG.items()
}
_PARAM_TO_VARIABLE = {p.rest: p.variable for p in LIST_PARAMETERS}
CASES = ("no_key", "wrong_org", "missing_scope", "not_key_manager", "foreign_id", "good")
# What each failure case must be, on both surfaces: (status, code, reason).
EXPECTED: dict[str, tuple[int, str, str | None]] = {
    "no_key": (401, "UNAUTHENTICATED", "missing_credentials"),
    "wrong_org": (403, "FORBIDDEN", "organization_mismatch"),
    "missing_scope": (403, "FORBIDDEN", "missing_scope"),
    "not_key_manager": (403, "FORBIDDEN", "key_manager_required"),
    "foreign_id": (404, "NOT_FOUND", None),
}


@cache
def _registry() -> Registry:
    return build_schema().persisted


def _operation(name: str) -> PersistedOperation:
    return _registry().by_name[name]


def _takes_input(op: PersistedOperation) -> bool:
    definition = next(d for d in op.document.definitions if isinstance(d, OperationDefinitionNode))
    return any(v.variable.name.value == "input" for v in definition.variable_definitions or ())


def _matrix() -> list[Any]:
    params = []
    for route in ROUTES:
        op = _operation(route.operation)
        for case in CASES:
            if case == "missing_scope" and not op.scopes:
                continue  # e.g. the viewer: any valid credential may ask
            if case == "not_key_manager" and not op.roles:
                continue
            if case == "foreign_id" and "{id}" not in route.path:
                continue
            params.append(pytest.param(route, case, id=f"{route.method} {route.path} {case}"))
    return params


def _sibling(route: Route, kind: str) -> Route:
    """The route of the same resource (tag) with this kind, e.g. its create route."""
    collection = route.path.split("/{id}")[0]
    return next(
        r
        for r in ROUTES
        if r.tag == route.tag
        and r.kind == kind
        and (r.path in (collection, f"{collection}/{{id}}"))
    )


def _without_object(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "object"}


def _normalized(value: Any, *, suffix: str, ids: dict[str, str]) -> Any:
    """Two objects written from the same template (different suffix, ids, clock and, for an
    API key, secret) → equal. ``ids``: each surface's own public ids → their placeholder."""
    if isinstance(value, dict):
        return {
            k: "<time>"
            if k.endswith(("_at", "_until")) and v is not None
            else "<number>"  # a document's number: each surface's write took the next one
            if k == "number"
            else _normalized(v, suffix=suffix, ids=ids)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalized(v, suffix=suffix, ids=ids) for v in value]
    if isinstance(value, str) and value in ids:
        return ids[value]
    if isinstance(value, str) and _PUBLIC_ID.match(value):
        return value.split("_")[0] + "_<ref>"  # an object each surface's write made its own
    if isinstance(value, str) and value.startswith(("ast_live_", "ast_test_", "whsec_")):
        return "<secret>"  # a key, the prefix that shows it, or a webhook signing secret
    if isinstance(value, str):
        return value.replace(suffix, "<suffix>")
    return value


_PUBLIC_ID = re.compile(r"^[a-z]+_[0-9A-Za-z]{22}$")


def _resource(body: dict[str, Any]) -> dict[str, Any]:
    """The object a write answered with: the body itself, or the one resource inside an answer
    that carries more (a new API key beside its secret)."""
    if "id" in body:
        return body
    (inner,) = [v for v in body.values() if isinstance(v, dict) and "id" in v]
    return inner


@dataclass
class Call:
    """One request, sent both ways: REST parameters and the equivalent GraphQL variables."""

    route: Route
    public_id: str | None = None
    body: dict[str, Any] | None = None
    params: dict[str, Any] | None = None

    @property
    def op(self) -> PersistedOperation:
        return _operation(self.route.operation)

    def rest(self, api: Api, *, as_: Credential | None, headers: dict[str, str]) -> httpx.Response:
        path = self.route.path
        if "{id}" in path:
            assert self.public_id is not None
            path = path.replace("{id}", self.public_id)
        return api.rest(
            self.route.method, path, as_=as_, headers=headers, json=self.body, params=self.params
        )

    def variables(self) -> dict[str, Any]:
        variables: dict[str, Any] = {}
        if "{id}" in self.route.path:
            variables["id"] = self.public_id
        if self.body is not None:
            variables["input"] = graphql_view(self.body)
        for name, value in (self.params or {}).items():
            variables[_PARAM_TO_VARIABLE.get(name, camel(name))] = graphql_view(value)
        return variables

    def graphql(
        self, api: Api, *, as_: Credential | None, headers: dict[str, str]
    ) -> httpx.Response:
        return api.post(self.op.source, self.variables(), as_=as_, headers=headers)


@dataclass
class Tenant:
    """An organization with an all-scopes key, and helpers to make objects in it over REST.
    ``caller`` is what a route's operation is called with: the key, or for the security
    center an owner's session."""

    api: Api
    key: Credential
    caller: Credential

    @classmethod
    def new(cls, api: Api, route: Route | None = None) -> "Tenant":
        key = api.key()
        managed = route is not None and _operation(route.operation).roles
        owner: Bearer | None = api.session(org_key=key) if managed else None
        return cls(api, key, owner or key)

    @property
    def org(self) -> str:
        return self.key.organization_id

    def create(self, route: Route, suffix: str | None = None) -> dict[str, Any]:
        if route.tag in _LOG_BY_TAG:
            return {"id": log_entry(self.api, _LOG_BY_TAG[route.tag], self.caller)}
        create = _sibling(route, "create")
        response = self.api.rest(
            "POST",
            create.path,
            as_=self.caller,
            json=CREATE_BODY[route.tag](self.api, self.caller, suffix or _suffix()),
        )
        assert response.status_code == 201, response.text
        return _resource(response.json())

    def snapshot(self, route: Route, public_id: str | None) -> Any:
        """What the owner sees of the object (or of the collection, for a create)."""
        if public_id is not None:
            item = _sibling(route, "retrieve")
            response = self.api.rest("GET", item.path.replace("{id}", public_id), as_=self.caller)
        else:
            listing = _sibling(route, "list")
            response = self.api.rest("GET", listing.path, as_=self.caller, params={"limit": 100})
        assert response.status_code == 200, response.text
        return response.json()


def _suffix() -> str:
    return secrets.token_hex(5)


def _first_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body.get("errors"), body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


@pytest.mark.parametrize(("route", "case"), _matrix())
def test_rest_and_graphql_answer_alike(api: Api, route: Route, case: str) -> None:
    if case == "good":
        _good_call(api, route)
        return
    owner = Tenant.new(api, route)
    op = _operation(route.operation)
    headers: dict[str, str] = {}
    caller: Credential | None = owner.caller
    holder = owner
    if case == "no_key":
        caller, headers = None, {"x-organization-id": owner.org}
    elif case == "wrong_org":
        caller, headers = api.key(), {"x-organization-id": owner.org}
    elif case == "missing_scope":
        lacking = {s.value for s in op.scopes}
        caller = api.key(org=owner.org, scopes=[s for s in ALL_SCOPES if s not in lacking])
    elif case == "not_key_manager":
        caller = owner.key  # every scope, but a key
    elif case == "foreign_id":
        holder = Tenant.new(api, route)  # the object lives in another organization
    target = holder.create(route) if "{id}" in route.path else None
    public_id = target["id"] if target is not None else None
    call = Call(route, public_id, *_request_data(route, holder, target))
    before = holder.snapshot(route, public_id) if route.tag in CREATE_BODY else None

    rest = call.rest(api, as_=caller, headers=headers)
    graphql = call.graphql(api, as_=caller, headers=headers)

    problem, extensions = rest.json(), _first_error(graphql)
    assert rest.headers["content-type"] == "application/problem+json"
    assert rest.status_code == graphql.status_code, (problem, extensions)
    for member in ("code", "reason", "required_scope"):
        assert problem.get(member) == extensions.get(member), (member, problem, extensions)
    status, code, reason = EXPECTED[case]
    assert (rest.status_code, problem["code"], problem.get("reason")) == (status, code, reason)
    if case == "missing_scope":
        assert {problem["required_scope"]} <= {s.value for s in op.scopes}
    if before is not None:  # a refused call changed nothing, on either surface
        assert holder.snapshot(route, public_id) == before


def _request_data(
    route: Route, tenant: Tenant, target: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(body, query params) of a valid request to the route, in ``tenant``, on ``target``
    (the object in its path, if any)."""
    if route.kind == "create":
        return CREATE_BODY[route.tag](tenant.api, tenant.caller, _suffix()), None
    if route.kind == "update":
        return dict(UPDATE_BODY[route.tag]), None
    if route.kind == "action" and _takes_input(_operation(route.operation)):
        # The resource's own sample input of the action, its references made in the tenant.
        resource, action = _BY_TAG[route.tag], route.path.rsplit("/", 1)[-1]
        return action_body(resource, action, sample_context(tenant.api, tenant.key)), None
    if route.kind == "list":
        return None, {"limit": 2}
    return None, None


def _good_call(api: Api, route: Route) -> None:
    owner = Tenant.new(api, route)
    op = _operation(route.operation)
    if route.kind in ("list", "retrieve"):
        body, params = _request_data(route, owner, None)
        # Reads: the same call, against the same data, twice.
        public_id = None
        if route.kind == "list":
            for _ in range(3):  # three objects, pages of two: has_more and a cursor
                owner.create(route)
        elif "{id}" in route.path:
            public_id = owner.create(route)["id"]
            if route.result_path:  # give the sub-resource more than one entry
                _fill(api, owner, route, public_id)
        call = Call(route, public_id, body, params)
        rest, graphql = _both_succeed(api, call, owner.caller)
        _assert_same_read(route, op, rest, graphql)
        if route.kind == "list":  # the second page, through each surface's own cursor
            assert (
                rest.json()["next_cursor"]
                == graphql.json()["data"][op.root_field]["pageInfo"]["endCursor"]
            )
            call = Call(route, None, None, {"limit": 2, "cursor": rest.json()["next_cursor"]})
            rest, graphql = _both_succeed(api, call, owner.caller)
            _assert_same_read(route, op, rest, graphql)
        return

    # Writes: each surface writes its own object from the same template.
    suffixes = (_suffix(), _suffix())
    targets: list[dict[str, Any] | None] = [None, None]
    if "{id}" in route.path:
        targets = [owner.create(route, suffix) for suffix in suffixes]
    ids = [target["id"] if target is not None else None for target in targets]
    for public_id in ids:  # bring each object to a state the action starts from
        if route.kind == "action":
            assert public_id is not None
            item = route.path.rsplit("/", 1)[0].replace("{id}", public_id)
            _take_steps(api, owner, _BY_TAG[route.tag], item, _steps_before(route))
    if route.kind == "create":
        rest_call = Call(route, None, CREATE_BODY[route.tag](api, owner.caller, suffixes[0]))
        graphql_call = Call(route, None, CREATE_BODY[route.tag](api, owner.caller, suffixes[1]))
    else:
        rest_call = Call(route, ids[0], *_request_data(route, owner, targets[0]))
        graphql_call = Call(route, ids[1], *_request_data(route, owner, targets[1]))
    rest = rest_call.rest(api, as_=owner.caller, headers={})
    graphql = graphql_call.graphql(api, as_=owner.caller, headers={})
    assert rest.status_code == route.success_status, rest.text
    assert graphql.status_code == 200, graphql.text
    assert "errors" not in graphql.json(), graphql.json()
    written = graphql.json()["data"][op.root_field]

    if route.kind == "delete":
        assert rest.content == b""
        assert written == {"id": ids[1], "deleted": True}
        retrieve = _sibling(route, "retrieve")
        for public_id in ids:  # gone, whichever surface deleted it
            assert public_id is not None
            gone = api.rest("GET", retrieve.path.replace("{id}", public_id), as_=owner.caller)
            assert (gone.status_code, gone.json()["code"]) == (404, "NOT_FOUND")
        return

    rest_body = rest.json()
    assert rest_body["object"] == snake(_object_type(op))
    # The object each surface wrote: the one named in the path, or a new one (a create, or the
    # key a rotation issued).
    rest_id, graphql_id = _resource(rest_body)["id"], _resource(written)["id"]
    assert rest_id.split("_")[0] == graphql_id.split("_")[0]
    rest_ids, graphql_ids = {rest_id: "<id>"}, {graphql_id: "<id>"}
    if route.kind != "create":
        assert ids[0] is not None
        assert ids[1] is not None
        rest_ids[ids[0]], graphql_ids[ids[1]] = "<path id>", "<path id>"
    assert _normalized(_without_object(rest_body), suffix=suffixes[0], ids=rest_ids) == (
        _normalized(rest_view(written), suffix=suffixes[1], ids=graphql_ids)
    )
    # And REST reads back exactly what the GraphQL write returned.
    retrieve = _sibling(route, "retrieve")
    readback = api.rest("GET", retrieve.path.replace("{id}", graphql_id), as_=owner.caller)
    assert _without_object(readback.json()) == rest_view(_resource(written))


def _fill(api: Api, owner: "Tenant", route: Route, public_id: str) -> None:
    """Give an object's part (``route.result_path``) entries to read: an update adds to its
    activity; the action that adds to another part (``Resource.part_actions``) runs twice,
    once the object is in a state it starts from."""
    resource = _BY_TAG[route.tag]
    (part,) = route.result_path
    action = resource.part_actions.get(part)
    item = route.path.rsplit("/", 1)[0].replace("{id}", public_id)
    if action is None:
        update = _sibling(route, "update")
        body = UPDATE_BODY[route.tag]
        api.rest("PATCH", update.path.replace("{id}", public_id), as_=owner.caller, json=body)
        return
    _take_steps(api, owner, resource, item, steps_to(resource, action))
    for _ in range(2):
        given = action_body(resource, action, sample_context(api, owner.key))
        done = api.rest("POST", f"{item}/{action}", as_=owner.caller, json=given)
        assert done.status_code == 200, done.text


def _take_steps(
    api: Api, owner: "Tenant", resource: Resource, item: str, steps: list[Transition]
) -> None:
    """Take the object at ``item`` (its REST path) through ``steps``, each with its sample
    input if it takes one."""
    for step in steps:
        given = action_body(resource, step.name) if step.input is not None else None
        done = api.rest("POST", f"{item}/{step.name}", as_=owner.caller, json=given)
        assert done.status_code == 200, done.text


def _steps_before(route: Route) -> list[Transition]:
    """The transitions that bring a new object to a state a lifecycle action starts from
    (none for other routes): an unarchive first archives."""
    resource = _BY_TAG[route.tag]
    if route.kind != "action" or resource.lifecycle is None:
        return []
    return steps_to(resource, route.path.rsplit("/", 1)[-1])


def _object_type(op: PersistedOperation) -> str:
    type_ = op.field.type
    while hasattr(type_, "of_type"):
        type_ = type_.of_type
    return str(type_.name)


def _both_succeed(api: Api, call: Call, key: Credential) -> tuple[httpx.Response, httpx.Response]:
    rest = call.rest(api, as_=key, headers={})
    graphql = call.graphql(api, as_=key, headers={})
    assert rest.status_code == graphql.status_code == 200, (rest.text, graphql.text)
    assert rest.headers["content-type"] == "application/json"
    assert "errors" not in graphql.json(), graphql.json()
    return rest, graphql


def _assert_same_read(
    route: Route, op: PersistedOperation, rest: httpx.Response, graphql: httpx.Response
) -> None:
    body = without_pacing(rest.json())
    data = without_pacing(graphql.json()["data"][op.root_field])
    for key in route.result_path:
        data = data[camel(key)]
    if route.kind == "list":
        assert body["object"] == "list"
        item_type = snake(_object_type(op).removesuffix("Connection"))
        assert all(item["object"] == item_type for item in body["data"])
        assert [_without_object(item) for item in body["data"]] == rest_view(data["nodes"])
        assert body["has_more"] == data["pageInfo"]["hasNextPage"]
        assert body["next_cursor"] == data["pageInfo"]["endCursor"]
        assert data["nodes"], "the read compared nothing"
    elif isinstance(data, list) and not route.result_path:  # a root list: one page of objects
        item_type = snake(_object_type(op))
        assert (body["object"], body["has_more"], body["next_cursor"]) == ("list", False, None)
        assert all(item["object"] == item_type for item in body["data"])
        assert [_without_object(item) for item in body["data"]] == rest_view(data)
        assert data, "the read compared nothing"
    elif isinstance(data, list):  # a sub-resource list: a one-page REST list
        assert body == {
            "object": "list",
            "data": rest_view(data),
            "has_more": False,
            "next_cursor": None,
        }
        assert data, "the read compared nothing"
    else:
        assert body["object"] == snake(_object_type(op))
        assert _without_object(body) == rest_view(data)


@pytest.mark.parametrize(
    ("field", "integral", "pointer"),
    [
        ("duration_minutes", {"duration_minutes": 60.0}, "/duration_minutes"),  # an Int
        (
            "unit_price",
            {"unit_price": {"amount": 12900.0, "currency": "USD"}},
            "/unit_price/amount",
        ),
    ],
    ids=["Int", "SafeInt"],
)
def test_an_integral_float_is_an_int_on_both_surfaces(
    api: Api, field: str, integral: dict[str, Any], pointer: str
) -> None:
    """JSON Schema's `integer` and GraphQL's `Int` both take `60.0`, and so does our `SafeInt`
    (money amounts); `60.5` is refused by both (REST 422 with a pointer, GraphQL 400 on
    variable coercion: each surface's own status)."""
    owner = Tenant.new(api)
    create = next(r for r in ROUTES if r.tag == "services" and r.kind == "create")
    body = {**CREATE_BODY["services"](api, owner.caller, _suffix()), **integral}
    rest = Call(create, None, body).rest(api, as_=owner.key, headers={})
    graphql = Call(create, None, body).graphql(api, as_=owner.key, headers={})
    assert rest.status_code == 201, rest.text
    assert "errors" not in graphql.json(), graphql.json()
    assert rest.json()[field] == snake_keys(graphql.json()["data"]["createService"])[field]
    sent = integral["unit_price"]["amount"] if field == "unit_price" else integral[field]
    answered = rest.json()[field]
    assert (answered["amount"] if field == "unit_price" else answered) == int(sent)

    fractional = json.loads(json.dumps(integral).replace(".0", ".5"))
    body = {**body, **fractional}
    rest = Call(create, None, body).rest(api, as_=owner.key, headers={})
    graphql = Call(create, None, body).graphql(api, as_=owner.key, headers={})
    assert (rest.status_code, rest.json()["errors"][0]["pointer"]) == (422, pointer)
    assert graphql.status_code == 400, graphql.text


# Compiled reads ⇄ the executor: every persisted read that compiles, for every kind of caller.
IDENTITIES = (
    "no_credential",
    "malformed_key",
    "other_org_key",
    "key_missing_scope",
    "key_with_scope",
    "member_lacking_scope",
    "member_with_scope",
    "owner_session",
)


def _compiled_read_names() -> list[str]:
    compiled = build_schema().compiled_reads
    return [op.name for op in _registry() if id(op.document) in compiled]


def _member_role(op: PersistedOperation, *, allowed: bool) -> str | None:
    """A role besides the owner whose session may (``allowed``) or may not run ``op``."""
    for role, scopes in ROLE_SCOPES.items():
        if (
            role != "owner"
            and (role in op.roles if op.roles else set(op.scopes) <= scopes) is allowed
        ):
            return role
    return None


def _identity_matrix() -> list[Any]:
    params = []
    for name in _compiled_read_names():
        op = _operation(name)
        for identity in IDENTITIES:
            if identity == "key_missing_scope" and not op.scopes:
                continue  # the viewer needs none; the security center refuses keys anyway
            if (
                identity.startswith("member_")
                and _member_role(op, allowed=identity == "member_with_scope") is None
            ):
                continue  # every role may read it (or none but the owner's)
            params.append(pytest.param(name, identity, id=f"{name} {identity}"))
    return params


def _expected(op: PersistedOperation, identity: str) -> tuple[int, str | None]:
    """(HTTP status, reason) every path must answer."""
    return {
        "no_credential": (401, "missing_credentials"),
        "malformed_key": (401, "malformed_key"),
        "other_org_key": (403, "organization_mismatch"),
        "key_missing_scope": (403, "missing_scope"),
        "key_with_scope": (403, "key_manager_required") if op.roles else (200, None),
        "member_lacking_scope": (403, "key_manager_required" if op.roles else "missing_scope"),
        "member_with_scope": (200, None),
        "owner_session": (200, None),
    }[identity]


@pytest.fixture(scope="session")
def uncompiled(engine: Engine, settings: Settings) -> Iterator[Api]:
    """The same database behind an app whose reads all run through strawberry's executor."""
    from fastapi.testclient import TestClient

    from asteri.app import create_app

    plain = settings.model_copy(update={"compiled_reads": False})
    with TestClient(create_app(plain), raise_server_exceptions=False) as executed:
        yield Api(client=executed, engine=engine, settings=plain)


def _comparable(response: httpx.Response) -> tuple[int, Any]:
    """Status and body, minus what differs by construction: the request id, the rate-limit
    budget each call left (``without_pacing``), and the column a GraphQL error points at (the
    executed document starts one space later)."""
    body = without_pacing(response.json())
    body.pop("request_id", None)
    for error in body.get("errors", []) if isinstance(body, dict) else []:
        error.pop("locations", None)
        error.get("extensions", {}).pop("request_id", None)
    return response.status_code, body


def test_every_read_that_compiled_before_still_compiles() -> None:
    """The identity matrix below is derived from what compiles: it must not shrink silently."""
    names = set(_compiled_read_names())
    assert {
        "GetCustomer",
        "ListCustomers",
        "GetService",
        "ListServices",
        "GetTeamMember",
        "ListTeamMembers",
        "GetApiKey",
        "ListApiKeys",
        "GetViewer",
    } <= names


@pytest.mark.parametrize(("name", "identity"), _identity_matrix())
def test_compiled_reads_and_the_executor_agree_for_every_identity(
    api: Api, uncompiled: Api, name: str, identity: str
) -> None:
    """Persisted text (compiled) against the same text one space longer (executed), and a REST
    route of the default app (compiled) against an app with compiled reads off: the same
    status, code, reason, extensions and data, and the answer each identity must get."""
    op = _operation(name)
    route = next(r for r in ROUTES if r.operation == name)
    owner = Tenant.new(api, route)
    public_id = None
    if "{id}" in route.path:
        public_id = owner.create(route)["id"]
    elif route.kind == "list" and (route.tag in CREATE_BODY or route.tag in _LOG_BY_TAG):
        for _ in range(3):  # pages of two: has_more and a cursor
            owner.create(route)
    caller: Credential | None = None
    headers = {"x-organization-id": owner.org}
    if identity == "malformed_key":
        headers["x-api-key"] = "ast_live_not-a-key"
    elif identity == "other_org_key":
        caller = api.key()
    elif identity == "key_missing_scope":
        lacking = {s.value for s in op.scopes}
        caller = api.key(org=owner.org, scopes=[s for s in ALL_SCOPES if s not in lacking])
    elif identity == "key_with_scope":
        caller = api.key(org=owner.org, scopes=[s.value for s in op.scopes] or ALL_SCOPES)
    elif identity.startswith("member_"):
        role = _member_role(op, allowed=identity == "member_with_scope")
        assert role is not None
        caller = api.session(role=role, org_key=owner.key)
    elif identity == "owner_session":
        caller = api.session(org_key=owner.key)
    if caller is not None:
        headers = {**caller.headers(), **headers}
    call = Call(route, public_id, None, {"limit": 2} if route.kind == "list" else None)
    status, reason = _expected(op, identity)

    compiled = api.post(op.source, call.variables(), headers=headers)
    executed = api.post(" " + op.source, call.variables(), headers=headers)
    assert _comparable(compiled) == _comparable(executed)
    body = compiled.json()
    assert compiled.status_code == status, body
    if status == 200:
        assert "errors" not in body, body
        assert body["data"][op.root_field], "the read compared nothing"
    else:
        extensions = body["errors"][0]["extensions"]
        assert extensions.get("reason") == reason, body

    fast = call.rest(api, as_=None, headers=headers)
    slow = call.rest(uncompiled, as_=None, headers=headers)
    assert _comparable(fast) == _comparable(slow)
    assert fast.status_code == status, fast.text
    if status != 200:
        assert fast.json().get("reason") == reason, fast.text
