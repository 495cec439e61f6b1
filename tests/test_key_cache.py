"""REST reads may authenticate from the key cache (one statement instead of two), and a cached
key never outlives its row: revoked, expired, rotated-out or changed keys are refused on the
very next request, exactly as without the cache."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from asteri.admin import revoke_key, rotate_key
from asteri.models import ApiKey
from asteri.schema import build_schema
from tests.factories import Api, Credential
from tests.test_query_counts import counting

READ_ONLY = ["read:customers"]


def _customer(api: Api, cred: Credential) -> str:
    created = api.rest("POST", "/customers", as_=cred, json={"display_name": "Cached"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _warm(api: Api, cred: Credential, path: str) -> None:
    """Two reads: the first authenticates against the database and fills the cache."""
    for _ in range(2):
        assert api.rest("GET", path, as_=cred).status_code == 200


def _problem(response: Any, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == reason, response.json()


def _change_key(api: Api, cred: Credential, **values: Any) -> None:
    """What the security center will do: change the policy and bump the version."""
    with api.engine.begin() as conn:
        conn.execute(
            update(ApiKey)
            .where(col(ApiKey.public_id) == cred.key_id)
            .values(version=col(ApiKey.version) + 1, **values)
        )


@pytest.fixture
def cred(api: Api) -> Credential:
    return api.key()


def test_a_warm_rest_read_runs_one_statement(api: Api, cred: Credential) -> None:
    customer = _customer(api, cred)
    _warm(api, cred, f"/customers/{customer}")
    with counting(api) as point:
        assert api.rest("GET", f"/customers/{customer}", as_=cred).status_code == 200
    _warm(api, cred, "/customers")
    with counting(api) as listed:
        assert api.rest("GET", "/customers", as_=cred).status_code == 200
    assert len(point) == 1, point
    assert len(listed) == 1, listed
    assert "api_keys" in point[0]  # the key is re-checked inside the read itself


@pytest.mark.parametrize("path", ["/customers/{id}", "/customers"])
def test_revoked_key_is_401_on_the_very_next_cached_read(
    api: Api, cred: Credential, path: str
) -> None:
    target = path.format(id=_customer(api, cred))
    _warm(api, cred, target)
    revoke_key(api.engine, cred.key_id)
    _problem(api.rest("GET", target, as_=cred), 401, "revoked_key")
    _problem(api.rest("GET", target, as_=cred), 401, "revoked_key")  # and stays refused


def test_expired_key_is_401_on_the_next_cached_read(api: Api, cred: Credential) -> None:
    target = f"/customers/{_customer(api, cred)}"
    _warm(api, cred, target)
    # Expiry needs no version bump: reads compare expires_at with the time of the read.
    with api.engine.begin() as conn:
        conn.execute(
            update(ApiKey)
            .where(col(ApiKey.public_id) == cred.key_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    _problem(api.rest("GET", target, as_=cred), 401, "expired_key")


def test_rotation_overlap_then_revocation(api: Api, cred: Credential) -> None:
    target = f"/customers/{_customer(api, cred)}"
    _warm(api, cred, target)
    rotated = rotate_key(
        api.engine,
        cred.key_id,
        overlap=timedelta(hours=24),
        pepper=api.settings.key_pepper.get_secret_value(),
    )
    new = Credential(cred.organization_id, rotated.secret, rotated.record.public_id, "live")
    assert api.rest("GET", target, as_=cred).status_code == 200  # overlap: both work
    assert api.rest("GET", target, as_=new).status_code == 200
    revoke_key(api.engine, cred.key_id)
    _problem(api.rest("GET", target, as_=cred), 401, "revoked_key")
    assert api.rest("GET", target, as_=new).status_code == 200


def test_narrowed_scopes_refuse_the_next_cached_read(api: Api, cred: Credential) -> None:
    target = f"/customers/{_customer(api, cred)}"
    _warm(api, cred, target)
    _change_key(api, cred, scopes=["read:services"])
    response = api.rest("GET", target, as_=cred)
    _problem(response, 403, "missing_scope")
    assert response.json()["required_scope"] == "read:customers"


def test_widened_scopes_serve_the_next_cached_read(api: Api) -> None:
    writer = api.key(scopes=["write:customers", "read:services"])
    target = f"/customers/{_customer(api, writer)}"
    for _ in range(2):  # cached with a key that lacks read:customers
        _problem(api.rest("GET", target, as_=writer), 403, "missing_scope")
    _change_key(api, writer, scopes=["write:customers", "read:customers"])
    assert api.rest("GET", target, as_=writer).status_code == 200


def test_another_organizations_id_is_still_404(api: Api, cred: Credential) -> None:
    theirs = _customer(api, api.key())
    _warm(api, cred, "/customers")
    response = api.rest("GET", f"/customers/{theirs}", as_=cred)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "NOT_FOUND"


def test_a_re_authenticated_read_is_charged_once(api: Api) -> None:
    cred = api.key(per_minute=1000)
    _warm(api, cred, "/customers")  # 2 requests
    # An empty page from a cached key is re-authenticated against the database: one request.
    empty = api.rest("GET", "/customers", as_=cred, params={"search": "nobody-by-this-name"})
    assert empty.status_code == 200
    assert empty.json()["data"] == []
    assert "r=997;" in empty.headers["ratelimit"], empty.headers["ratelimit"]


def _persisted(api: Api, cred: Credential, name: str, variables: dict[str, Any]) -> Any:
    """A persisted operation sent by its sha256 alone."""
    op = build_schema().persisted.by_name[name]
    body = {
        "operationName": name,
        "variables": variables,
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": op.sha256}},
    }
    return api.client.post("/api/public/v1/graphql", json=body, headers=cred.headers())


def _graphql_reason(response: Any) -> tuple[int, str]:
    extensions = response.json()["errors"][0]["extensions"]
    return response.status_code, extensions["reason"]


def test_a_warm_persisted_graphql_read_runs_one_statement(api: Api, cred: Credential) -> None:
    customer = _customer(api, cred)
    for _ in range(2):
        assert _persisted(api, cred, "GetCustomer", {"id": customer}).status_code == 200
    with counting(api) as statements:
        answer = _persisted(api, cred, "GetCustomer", {"id": customer})
    assert answer.json()["data"]["customer"]["id"] == customer
    assert len(statements) == 1, statements


def test_revoked_key_is_401_on_the_next_persisted_graphql_read(api: Api, cred: Credential) -> None:
    customer = _customer(api, cred)
    for _ in range(2):
        assert _persisted(api, cred, "GetCustomer", {"id": customer}).status_code == 200
        assert _persisted(api, cred, "ListCustomers", {"first": 5}).status_code == 200
    revoke_key(api.engine, cred.key_id)
    refused = _persisted(api, cred, "GetCustomer", {"id": customer})
    assert _graphql_reason(refused) == (401, "revoked_key")
    assert _graphql_reason(_persisted(api, cred, "ListCustomers", {"first": 5})) == (
        401,
        "revoked_key",
    )


def test_narrowed_scopes_refuse_the_next_persisted_graphql_read(api: Api, cred: Credential) -> None:
    customer = _customer(api, cred)
    for _ in range(2):
        assert _persisted(api, cred, "GetCustomer", {"id": customer}).status_code == 200
    _change_key(api, cred, scopes=["read:services"])
    refused = _persisted(api, cred, "GetCustomer", {"id": customer})
    assert _graphql_reason(refused) == (403, "missing_scope")


def test_free_text_documents_and_writes_never_use_the_cache(api: Api, cred: Credential) -> None:
    customer = _customer(api, cred)
    for _ in range(2):  # cached now, for compiled reads
        assert _persisted(api, cred, "GetCustomer", {"id": customer}).status_code == 200
    query = "query($id: ID!) { customer(id: $id) { id } }"
    with counting(api) as statements:
        api.gql(query, {"id": customer}, as_=cred)
    assert any("api_keys" in s and "secret_hash" in s for s in statements), statements
    revoke_key(api.engine, cred.key_id)
    status, error = api.error(
        'mutation { createCustomer(input: {displayName: "After"}) { id } }', as_=cred
    )
    assert (status, error["extensions"]["reason"]) == (401, "revoked_key")
