"""The security center: an owner's or admin's session manages the organization's API keys over
GraphQL and REST; no other role and no API key may, whatever its scopes.

Keys are the way into every tenant's data, so beside the happy paths this holds the promises a
key manager relies on: the secret is shown once (create and rotate answers only, never a read,
an audit entry or an event), a revocation or a narrowed scope applies from the key's very next
request even when its authentication was cached, and a refused change leaves no trace.
"""

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col

from asteri.authz.key_policy import MAX_LIMIT, check_overlap, check_terms
from asteri.kit.errors import BadUserInput
from asteri.models import ApiKey, AuditEntry, Event, IdempotencyRecord, Organization
from asteri.resolvers.api_key import ApiKeyFields, RotateApiKeyFields
from asteri.schema import build_schema
from tests.factories import ALL_SCOPES, DAY, GRAPHQL, Api, Bearer, Credential, create_customer

KEY_FIELDS = """
  id name displayPrefix environment scopes expiresAt revokedAt lastUsedAt rotatedFrom
  createdBy persistedOnly perMinute perDay createdAt status
"""
CREATE = f"""
mutation($input: CreateApiKeyInput!) {{
  createApiKey(input: $input) {{ apiKey {{ {KEY_FIELDS} }} secret }}
}}"""
LIST = f"""
query($first: Int, $after: String) {{
  apiKeys(first: $first, after: $after) {{
    nodes {{ {KEY_FIELDS} }} pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
GET = f"query($id: ID!) {{ apiKey(id: $id) {{ {KEY_FIELDS} }} }}"
UPDATE = f"""
mutation($id: ID!, $input: UpdateApiKeyInput!) {{
  updateApiKey(id: $id, input: $input) {{ {KEY_FIELDS} }}
}}"""
ROTATE = f"""
mutation($id: ID!, $input: RotateApiKeyInput) {{
  rotateApiKey(id: $id, input: $input) {{ apiKey {{ {KEY_FIELDS} }} secret oldKeyValidUntil }}
}}"""
REVOKE = f"mutation($id: ID!) {{ revokeApiKey(id: $id) {{ {KEY_FIELDS} }} }}"


def _new_key(**fields: Any) -> dict[str, Any]:
    return {"name": "Billing sync", "scopes": ["read:customers"], "expiresIn": DAY, **fields}


def _create(api: Api, manager: Bearer, **fields: Any) -> dict[str, Any]:
    created: dict[str, Any] = api.gql(CREATE, {"input": _new_key(**fields)}, as_=manager)[
        "createApiKey"
    ]
    return created


def _as_key(manager: Bearer, created: dict[str, Any]) -> Credential:
    """The created key as a credential of the manager's organization."""
    key = created["apiKey"]
    return Credential(
        manager.organization_id, created["secret"], key["id"], key["environment"].lower()
    )


def _customers(api: Api, key: Credential) -> tuple[int, dict[str, Any]]:
    response = api.rest("GET", "/customers", as_=key)
    return response.status_code, response.json()


def _trail(api: Api, organization_id: str) -> tuple[list[Any], list[Any]]:
    """The organization's API key audit entries and events, oldest first."""
    with api.engine.connect() as conn:
        org_pk = conn.scalar(
            select(col(Organization.id)).where(col(Organization.public_id) == organization_id)
        )
        audits = conn.execute(
            select(AuditEntry)
            .where(
                col(AuditEntry.organization_id) == org_pk,
                col(AuditEntry.resource_type) == "api_key",
                col(AuditEntry.request_id).is_not(None),  # not the operator's setup key
            )
            .order_by(col(AuditEntry.id))
        ).all()
        events = conn.execute(
            select(Event)
            .where(
                col(Event.organization_id) == org_pk,
                col(Event.resource_type) == "api_key",
                col(Event.request_id).is_not(None),
            )
            .order_by(col(Event.id))
        ).all()
    return list(audits), list(events)


def _hash_of(api: Api, key_id: str) -> str:
    with api.engine.connect() as conn:
        digest = conn.scalar(select(col(ApiKey.secret_hash)).where(col(ApiKey.public_id) == key_id))
    assert digest is not None
    return str(digest)


@pytest.fixture(params=["owner", "admin"])
def manager(api: Api, request: pytest.FixtureRequest) -> Bearer:
    return api.session(role=request.param)


# --- Managing keys: GraphQL ---------------------------------------------------------------


def test_a_manager_creates_lists_reads_updates_rotates_and_revokes(
    api: Api, manager: Bearer
) -> None:
    created = _create(api, manager, perMinute=30, perDay=900)
    key = created["apiKey"]
    assert created["secret"].startswith("ast_live_")
    assert created["secret"].startswith(key["displayPrefix"])
    assert key["id"].startswith("key_")
    assert (key["name"], key["scopes"], key["environment"]) == (
        "Billing sync",
        ["read:customers"],
        "LIVE",  # the session's environment
    )
    assert (key["perMinute"], key["perDay"], key["persistedOnly"]) == (30, 900, False)
    assert (key["status"], key["revokedAt"], key["rotatedFrom"]) == ("ACTIVE", None, None)
    assert key["createdBy"] == f"member:{manager.key_id}"  # the session's team member

    listed = api.gql(LIST, {"first": 100}, as_=manager)["apiKeys"]["nodes"]
    assert key in listed
    assert api.gql(GET, {"id": key["id"]}, as_=manager)["apiKey"] == key

    updated = api.gql(
        UPDATE,
        {"id": key["id"], "input": {"name": "Renamed", "scopes": ["read:services"]}},
        as_=manager,
    )["updateApiKey"]
    assert (updated["name"], updated["scopes"], updated["perMinute"]) == (
        "Renamed",
        ["read:services"],
        30,  # absent: untouched
    )

    rotated = api.gql(ROTATE, {"id": key["id"], "input": {"overlapSeconds": 3600}}, as_=manager)[
        "rotateApiKey"
    ]
    new = rotated["apiKey"]
    assert new["id"] != key["id"]
    assert new["rotatedFrom"] == key["id"]
    assert rotated["secret"] != created["secret"]
    for same in ("name", "scopes", "environment", "expiresAt", "perMinute", "perDay"):
        assert new[same] == updated[same], same
    old = api.gql(GET, {"id": key["id"]}, as_=manager)["apiKey"]
    assert old["revokedAt"] == rotated["oldKeyValidUntil"]
    assert old["status"] == "ACTIVE"  # during the overlap

    revoked = api.gql(REVOKE, {"id": new["id"]}, as_=manager)["revokeApiKey"]
    assert revoked["status"] == "REVOKED"
    assert revoked["revokedAt"] is not None


def test_keys_of_both_environments_are_listed_newest_first(api: Api) -> None:
    owner = api.session()
    first = _create(api, owner, name="first")["apiKey"]
    second = _create(api, owner, name="second", environment="TEST")["apiKey"]
    third = _create(api, owner, name="third")["apiKey"]
    assert second["environment"] == "TEST"

    page = api.gql(LIST, {"first": 2}, as_=owner)["apiKeys"]
    assert [k["id"] for k in page["nodes"]] == [third["id"], second["id"]]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = api.gql(LIST, {"first": 100, "after": page["pageInfo"]["endCursor"]}, as_=owner)
    ids = [k["id"] for k in rest["apiKeys"]["nodes"]]
    # The organization's own setup key (made before the session) comes last.
    assert ids[0] == first["id"]
    assert ids[-1] == _setup_key(api, owner)


def _setup_key(api: Api, owner: Bearer) -> str:
    """The id of the key ``api.session`` created the organization with (its oldest key)."""
    with api.engine.connect() as conn:
        org_pk = conn.scalar(
            select(col(Organization.id)).where(col(Organization.public_id) == owner.organization_id)
        )
        oldest = conn.scalar(
            select(col(ApiKey.public_id))
            .where(col(ApiKey.organization_id) == org_pk)
            .order_by(col(ApiKey.id))
            .limit(1)
        )
    return str(oldest)


def test_a_test_key_reaches_test_data_only(api: Api) -> None:
    setup = api.key()
    owner = api.session(org_key=setup)
    create_customer(api, setup)  # live data
    test_key = _as_key(owner, _create(api, owner, environment="TEST"))
    assert test_key.key.startswith("ast_test_")
    status, body = _customers(api, test_key)
    assert (status, body["data"]) == (200, [])
    assert len(_customers(api, setup)[1]["data"]) == 1


# --- Managing keys: REST ------------------------------------------------------------------


def test_a_manager_manages_keys_over_rest(api: Api, manager: Bearer) -> None:
    created = api.rest(
        "POST",
        "/api_keys",
        as_=manager,
        json={"name": "CI", "scopes": ["read:customers", "read:team"], "expires_in": DAY},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["object"] == "new_api_key"
    assert body["secret"].startswith("ast_live_")
    key = body["api_key"]
    assert (key["name"], key["scopes"], key["status"]) == (
        "CI",
        ["read:customers", "read:team"],
        "active",
    )
    key_id = key["id"]

    listed = api.rest("GET", "/api_keys", as_=manager, params={"limit": 100})
    assert listed.status_code == 200, listed.text
    assert {"object": "api_key", **key} in listed.json()["data"]
    fetched = api.rest("GET", f"/api_keys/{key_id}", as_=manager)
    assert fetched.json() == {"object": "api_key", **key}

    patched = api.rest(
        "PATCH", f"/api_keys/{key_id}", as_=manager, json={"per_minute": 5, "name": "CI 2"}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["per_minute"], patched.json()["name"]) == (5, "CI 2")

    rotated = api.rest(
        "POST", f"/api_keys/{key_id}/rotate", as_=manager, json={"overlap_seconds": 60}
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["object"] == "rotated_api_key"
    assert rotated.json()["api_key"]["rotated_from"] == key_id
    assert rotated.json()["secret"].startswith("ast_live_")

    revoked = api.rest("POST", f"/api_keys/{key_id}/revoke", as_=manager)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"


# --- Who may manage keys ------------------------------------------------------------------

_REST_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api_keys", None),
    ("GET", "/api_keys/{id}", None),
    ("POST", "/api_keys", {"name": "x", "scopes": ["read:customers"], "expires_in": DAY}),
    ("PATCH", "/api_keys/{id}", {"name": "x"}),
    ("POST", "/api_keys/{id}/rotate", {}),
    ("POST", "/api_keys/{id}/revoke", None),
]
_GRAPHQL_CALLS: list[tuple[str, dict[str, Any]]] = [
    (LIST, {}),
    (GET, {"id": "{id}"}),
    (CREATE, {"input": _new_key()}),
    (UPDATE, {"id": "{id}", "input": {"scopes": ALL_SCOPES}}),
    (ROTATE, {"id": "{id}"}),
    (REVOKE, {"id": "{id}"}),
]


@pytest.mark.parametrize("caller", ["dispatcher", "technician", "api_key"])
def test_only_an_owner_or_admin_session_may_manage_keys(api: Api, caller: str) -> None:
    """Even a key holding every scope is refused: a key can never mint, widen or manage keys
    (itself included); a session of a role without key management neither."""
    setup = api.key()
    owner = api.session(org_key=setup)
    target = _create(api, owner)["apiKey"]["id"]
    refused: Credential = setup if caller == "api_key" else api.session(role=caller, org_key=setup)
    trail = _trail(api, setup.organization_id)
    for method, path, body in _REST_CALLS:
        response = api.rest(method, path.replace("{id}", target), as_=refused, json=body)
        problem = response.json()
        assert (response.status_code, problem["code"], problem.get("reason")) == (
            403,
            "FORBIDDEN",
            "key_manager_required",
        ), (method, path, problem)
        assert "owner" in problem["detail"]
    for document, variables in _GRAPHQL_CALLS:
        filled = {k: (target if v == "{id}" else v) for k, v in variables.items()}
        status, error = api.error(document, filled, as_=refused)
        assert (status, error["extensions"]["reason"]) == (403, "key_manager_required")
    assert _trail(api, setup.organization_id) == trail


def test_persisted_reads_by_hash_are_refused_to_keys_too(api: Api) -> None:
    """Persisted reads may skip field execution (compiled reads): the rule holds there too."""
    setup = api.key()
    owner = api.session(org_key=setup)
    registry = build_schema().persisted
    for name, variables in (("ListApiKeys", {}), ("GetApiKey", {"id": setup.key_id})):
        body = {
            "variables": variables,
            "extensions": {
                "persistedQuery": {"version": 1, "sha256Hash": registry.by_name[name].sha256}
            },
        }
        refused = api.client.post(GRAPHQL, json=body, headers=setup.headers())
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["extensions"]["reason"] == "key_manager_required"
        served = api.client.post(GRAPHQL, json=body, headers=owner.headers())
        assert served.status_code == 200, served.text
        assert "errors" not in served.json()


def test_without_credentials_it_is_401(api: Api) -> None:
    org = api.org()
    response = api.rest("GET", "/api_keys", headers={"x-organization-id": org})
    assert (response.status_code, response.json()["reason"]) == (401, "missing_credentials")


def test_another_organizations_key_is_404(api: Api) -> None:
    owner = api.session()
    foreign = api.key()  # another organization's key
    for method, path, body in _REST_CALLS:
        if "{id}" not in path:
            continue
        response = api.rest(method, path.replace("{id}", foreign.key_id), as_=owner, json=body)
        assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND"), path
    status, error = api.error(GET, {"id": foreign.key_id}, as_=owner)
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    # And the foreign key was left alone.
    assert _customers(api, foreign)[0] == 200


# --- The secret -------------------------------------------------------------------------


def test_the_secret_works_at_once_and_is_shown_only_on_create_and_rotate(api: Api) -> None:
    owner = api.session()
    created = _create(api, owner, scopes=["read:customers", "write:customers"])
    key = _as_key(owner, created)
    assert _customers(api, key)[0] == 200
    rotated = api.gql(ROTATE, {"id": key.key_id}, as_=owner)["rotateApiKey"]
    api.gql(UPDATE, {"id": key.key_id, "input": {"name": "renamed"}}, as_=owner)
    api.gql(REVOKE, {"id": rotated["apiKey"]["id"]}, as_=owner)
    secrets = [created["secret"], rotated["secret"]]
    hashes = [_hash_of(api, key.key_id), _hash_of(api, rotated["apiKey"]["id"])]

    reads = [
        api.rest("GET", "/api_keys", as_=owner, params={"limit": 100}).text,
        api.rest("GET", f"/api_keys/{key.key_id}", as_=owner).text,
        json.dumps(api.gql(LIST, {"first": 100}, as_=owner)),
        json.dumps(api.gql(GET, {"id": key.key_id}, as_=owner)),
    ]
    audits, events = _trail(api, owner.organization_id)
    assert len(audits) == len(events) == 4
    stored = [json.dumps([list(a) for a in audits], default=str)]
    stored += [json.dumps(e.payload) for e in events]
    for text in reads + stored:
        for secret in secrets + hashes:
            assert secret not in text
            assert secret[len("ast_live_") + 6 :] not in text  # not even beyond the prefix
    for event in events:
        assert "secret" not in event.payload
        assert "secret_hash" not in event.payload


# --- Changes apply from the key's very next request --------------------------------------


def test_rotation_keeps_the_old_key_working_through_the_overlap(api: Api) -> None:
    owner = api.session()
    created = _create(api, owner)
    old = _as_key(owner, created)
    rotated = api.gql(ROTATE, {"id": old.key_id, "input": {"overlapSeconds": 3600}}, as_=owner)[
        "rotateApiKey"
    ]
    new = _as_key(owner, rotated)
    assert _customers(api, old)[0] == 200
    assert _customers(api, new)[0] == 200

    again = api.gql(ROTATE, {"id": new.key_id, "input": {"overlapSeconds": 0}}, as_=owner)
    assert _customers(api, new)[0] == 401  # no overlap: the replaced key stops at once
    assert _customers(api, _as_key(owner, again["rotateApiKey"]))[0] == 200


def test_revoke_refuses_the_keys_very_next_read(api: Api) -> None:
    owner = api.session()
    key = _as_key(owner, _create(api, owner))
    assert _customers(api, key)[0] == 200
    assert _customers(api, key)[0] == 200  # now served from the key cache
    revoked = api.rest("POST", f"/api_keys/{key.key_id}/revoke", as_=owner)
    assert revoked.status_code == 200, revoked.text
    status, problem = _customers(api, key)
    assert (status, problem["reason"]) == (401, "revoked_key")


def test_narrowed_scopes_apply_from_the_keys_very_next_read(api: Api) -> None:
    owner = api.session()
    key = _as_key(owner, _create(api, owner, scopes=["read:customers", "read:services"]))
    assert _customers(api, key)[0] == 200
    assert _customers(api, key)[0] == 200  # now served from the key cache
    api.gql(UPDATE, {"id": key.key_id, "input": {"scopes": ["read:services"]}}, as_=owner)
    status, problem = _customers(api, key)
    assert (status, problem["reason"], problem["required_scope"]) == (
        403,
        "missing_scope",
        "read:customers",
    )
    assert api.rest("GET", "/services", as_=key).status_code == 200


def test_narrowed_limits_apply_to_the_keys_very_next_read(api: Api) -> None:
    """The cached key's request is counted first; re-decided against the database, its count
    is checked against the new limit without counting it twice."""
    owner = api.session()
    key = _as_key(owner, _create(api, owner, perMinute=1000))
    create_customer(api, api.key(org=owner.organization_id))  # something for its reads to find
    for _ in range(2):
        assert _customers(api, key)[0] == 200  # cached after the first
    api.gql(UPDATE, {"id": key.key_id, "input": {"perMinute": 2}}, as_=owner)
    refused = api.rest("GET", "/customers", as_=key)  # the third request this minute
    assert refused.status_code == 429, refused.text
    assert refused.headers["ratelimit-policy"].startswith('"minute";q=2;w=60')
    assert refused.json()["limit"] == 2


# --- Every change audited once; a refused one not at all ----------------------------------


def test_every_change_is_audited_once_as_the_person(api: Api) -> None:
    owner = api.session()
    request_id = "req-security-center-1"
    created = api.client.post(
        "/api/public/v1/graphql",
        json={"query": CREATE, "variables": {"input": _new_key()}},
        headers={**owner.headers(), "x-request-id": request_id},
    ).json()["data"]["createApiKey"]
    key_id = created["apiKey"]["id"]
    api.gql(UPDATE, {"id": key_id, "input": {"scopes": ["read:team"], "perDay": 50}}, as_=owner)
    api.gql(UPDATE, {"id": key_id, "input": {"perDay": 50}}, as_=owner)  # no change: no entry
    rotated = api.gql(ROTATE, {"id": key_id}, as_=owner)["rotateApiKey"]["apiKey"]
    api.gql(REVOKE, {"id": key_id}, as_=owner)
    api.gql(REVOKE, {"id": key_id}, as_=owner)  # already revoked: no entry

    audits, events = _trail(api, owner.organization_id)
    actions = ["created", "updated", "rotated", "revoked"]
    assert [a.action for a in audits] == [f"api_key.{v}" for v in actions]
    assert [e.type for e in events] == [f"api_key.{v}" for v in actions]
    assert [a.resource_id for a in audits] == [key_id, key_id, rotated["id"], key_id]
    for audit in audits:
        assert (audit.actor_type, audit.actor_id) == ("member", owner.key_id)
    assert audits[0].request_id == request_id
    assert audits[1].changed_fields == ["per_day", "scopes"]
    assert audits[3].changed_fields == ["revoked_at"]
    assert events[2].payload["rotated_from"] == key_id
    assert events[3].payload["status"] == "revoked"


def test_refused_changes_leave_no_trace(api: Api) -> None:
    setup = api.key()
    owner = api.session(org_key=setup)
    key_id = _create(api, owner)["apiKey"]["id"]
    revoked_id = _create(api, owner)["apiKey"]["id"]
    api.gql(REVOKE, {"id": revoked_id}, as_=owner)
    before = _trail(api, owner.organization_id), api.gql(LIST, {"first": 100}, as_=owner)

    refusals: list[tuple[str, dict[str, Any], Credential, int]] = [
        (CREATE, {"input": _new_key()}, setup, 403),
        (UPDATE, {"id": key_id, "input": {"scopes": ALL_SCOPES}}, setup, 403),
        (CREATE, {"input": _new_key(scopes=["read:customers", "read:everything"])}, owner, 422),
        (CREATE, {"input": _new_key(perDay=0)}, owner, 422),
        (CREATE, {"input": _new_key(expiresIn=DAY * 366)}, owner, 422),
        (UPDATE, {"id": key_id, "input": {"name": None}}, owner, 422),
        (UPDATE, {"id": key_id, "input": {"scopes": []}}, owner, 422),
        (ROTATE, {"id": key_id, "input": {"overlapSeconds": DAY * 8}}, owner, 422),
        (ROTATE, {"id": revoked_id}, owner, 409),
        (UPDATE, {"id": "key_missing", "input": {"name": "x"}}, owner, 404),
        (ROTATE, {"id": "key_missing"}, owner, 404),
        (REVOKE, {"id": "key_missing"}, owner, 404),
    ]
    for document, variables, caller, expected in refusals:
        status, error = api.error(document, variables, as_=caller)
        assert status == expected, (variables, error)
    assert (_trail(api, owner.organization_id), api.gql(LIST, {"first": 100}, as_=owner)) == (
        before
    )


# --- What a key may be ---------------------------------------------------------------------


def test_an_unknown_scope_is_422_naming_it(api: Api) -> None:
    owner = api.session()
    status, error = api.error(
        CREATE, {"input": _new_key(scopes=["read:customers", "read:everything"])}, as_=owner
    )
    assert (status, error["extensions"]["code"]) == (422, "BAD_USER_INPUT")
    assert "read:everything" in error["message"]
    assert error["extensions"]["errors"] == [
        {"pointer": "/input/scopes/1", "detail": "unknown scope `read:everything`"}
    ]
    response = api.rest(
        "POST",
        "/api_keys",
        as_=owner,
        json={"name": "x", "scopes": ["admin:all"], "expires_in": DAY},
    )
    problem = response.json()
    assert (response.status_code, problem["errors"][0]["pointer"]) == (422, "/scopes/0")
    assert "admin:all" in problem["detail"]


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"perMinute": 0}, "/input/perMinute"),
        ({"perDay": MAX_LIMIT + 1}, "/input/perDay"),
        ({"expiresIn": 0}, "/input/expiresIn"),
        ({"expiresIn": int(timedelta(days=366).total_seconds())}, "/input/expiresIn"),
        ({"scopes": []}, "/input/scopes"),
        ({"name": "  "}, "/input/name"),
    ],
)
def test_out_of_range_terms_are_422(api: Api, fields: dict[str, Any], pointer: str) -> None:
    owner = api.session()
    status, error = api.error(CREATE, {"input": _new_key(**fields)}, as_=owner)
    assert status == 422
    assert [e["pointer"] for e in error["extensions"]["errors"]] == [pointer]


def test_a_key_at_the_limits_is_accepted(api: Api) -> None:
    owner = api.session()
    key = _create(
        api,
        owner,
        perMinute=1,
        perDay=MAX_LIMIT,
        expiresIn=int(timedelta(days=365).total_seconds()),
        persistedOnly=True,
    )["apiKey"]
    assert (key["perMinute"], key["perDay"], key["persistedOnly"]) == (1, MAX_LIMIT, True)


def test_an_idempotent_create_or_rotate_never_stores_the_secret(api: Api) -> None:
    """The Idempotency-Key still makes one key; a retry gets a 409 naming it, and no table
    ever holds the secret."""
    owner = api.session(role="owner")
    body = {"name": "Once", "scopes": ["read:customers"], "expires_in": DAY}
    headers = {"idempotency-key": f"create-{secrets.token_hex(4)}"}
    first = api.rest("POST", "/api_keys", as_=owner, json=body, headers=headers)
    assert first.status_code == 201, first.text
    created = first.json()
    retry = api.rest("POST", "/api_keys", as_=owner, json=body, headers=headers)
    assert retry.status_code == 409, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    problem = retry.json()
    assert (problem["reason"], problem["resource_id"]) == (
        "secret_not_replayed",
        created["api_key"]["id"],
    )
    assert created["secret"] not in retry.text

    rotate_headers = {"idempotency-key": f"rotate-{secrets.token_hex(4)}"}
    path = f"/api_keys/{created['api_key']['id']}/rotate"
    rotated = api.rest("POST", path, as_=owner, json={}, headers=rotate_headers)
    assert rotated.status_code == 200, rotated.text
    again = api.rest("POST", path, as_=owner, json={}, headers=rotate_headers)
    assert (again.status_code, again.json()["reason"]) == (409, "secret_not_replayed")
    assert again.json()["resource_id"] == rotated.json()["api_key"]["id"]

    with api.engine.connect() as conn:
        bodies = conn.scalars(select(col(IdempotencyRecord.response_body)))
        stored = [bytes(b or b"") for b in bodies]
    for secret in (created["secret"], rotated.json()["secret"]):
        assert not any(secret.encode() in b for b in stored)
    listed = api.rest("GET", "/api_keys", as_=owner, params={"limit": 100}).json()["data"]
    assert [k["name"] for k in listed].count("Once") == 2  # the created key and its successor


def test_the_issues_story_end_to_end_over_rest(api: Api) -> None:
    """An org admin creates a key with two scopes, a 30-day expiry, 60 a minute and 10,000 a
    day; sees it once; uses it; sees last_used_at move; rotates it with a 24 h overlap in which
    both secrets work; revokes it and gets 401 on the very next request."""
    admin = api.session(role="admin")
    terms = {
        "name": "Zapier",
        "scopes": ["read:customers", "write:customers"],
        "expires_in": 30 * DAY,
        "per_minute": 60,
        "per_day": 10_000,
    }
    created = api.rest("POST", "/api_keys", as_=admin, json=terms)
    assert created.status_code == 201, created.text
    key = created.json()["api_key"]
    secret = created.json()["secret"]
    assert "secret" not in api.rest("GET", f"/api_keys/{key['id']}", as_=admin).json()
    assert key["last_used_at"] is None
    as_key = Credential(admin.organization_id, secret, key["id"], "live")
    used = api.rest("GET", "/customers", as_=as_key)
    assert used.status_code == 200, used.text
    assert used.headers["ratelimit-policy"] == '"minute";q=60;w=60, "day";q=10000;w=86400'
    seen = api.rest("GET", f"/api_keys/{key['id']}", as_=admin).json()
    assert seen["last_used_at"] is not None

    rotated = api.rest(
        "POST", f"/api_keys/{key['id']}/rotate", as_=admin, json={"overlap_seconds": DAY}
    ).json()
    as_new = Credential(admin.organization_id, rotated["secret"], rotated["api_key"]["id"], "live")
    for credential in (as_key, as_new):  # the overlap: both work
        assert api.rest("GET", "/customers", as_=credential).status_code == 200
    revoked = api.rest("POST", f"/api_keys/{key['id']}/revoke", as_=admin)
    assert revoked.status_code == 200, revoked.text
    refused = api.rest("GET", "/customers", as_=as_key)
    assert (refused.status_code, refused.json()["reason"]) == (401, "revoked_key")
    assert api.rest("GET", "/customers", as_=as_new).status_code == 200


_BOUNDS: list[tuple[str, Any]] = [
    ("name", ""),
    ("name", "   "),
    ("name", "k"),
    ("name", "k" * 200),
    ("name", "k" * 201),
    ("scopes", []),
    ("scopes", ["read:team"]),
    ("scopes", ["read:team", "read:everything"]),
    ("expires_in", 0),
    ("expires_in", 1),
    ("expires_in", 365 * DAY),
    ("expires_in", 365 * DAY + 1),
    ("per_minute", 0),
    ("per_minute", 1),
    ("per_day", 2_000_000_000),
    ("per_day", 2_000_000_001),
]


def _declared(model: type[Any], term: str, value: Any) -> bool:
    """Whether the schemas' declaration of ``term`` takes ``value``."""
    try:
        model.__pydantic_validator__.validate_assignment(model.model_construct(), term, value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("term", "value"), _BOUNDS)
def test_the_declared_terms_are_the_key_policy(term: str, value: Any) -> None:
    """The REST schema's and the GraphQL descriptions' bounds (``ApiKeyFields``) give the
    same answer as the rules every issuer runs (``key_policy.check_terms``) at each bound."""
    given = timedelta(seconds=value) if term == "expires_in" else value
    try:
        check_terms(**{term: given})
        enforced = True
    except BadUserInput:
        enforced = False
    assert _declared(ApiKeyFields, term, value) is enforced


@pytest.mark.parametrize("seconds", [-1, 0, 7 * DAY, 7 * DAY + 1])
def test_the_declared_overlap_is_the_key_policy(seconds: int) -> None:
    try:
        check_overlap(timedelta(seconds=seconds))
        enforced = True
    except BadUserInput:
        enforced = False
    assert _declared(RotateApiKeyFields, "overlap_seconds", seconds) is enforced
