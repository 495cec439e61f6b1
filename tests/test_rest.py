"""The REST facade over HTTP: shapes, PATCH semantics, lifecycle routes and problem bodies."""

from collections.abc import Iterator
from typing import Any

import pytest

from asteri.kit.settings import Settings
from tests.factories import Api, Credential, without_pacing


def _create(api: Api, cred: Credential, **body: Any) -> dict[str, Any]:
    response = api.rest(
        "POST", "/customers", as_=cred, json={"display_name": "Rest Customer", **body}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_list_envelope_and_cursor_pagination(api: Api) -> None:
    cred = api.key()
    ids = {_create(api, cred, display_name=f"C{i}")["id"] for i in range(5)}
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = api.rest("GET", "/customers", as_=cred, params=params).json()
        assert page["object"] == "list"
        assert all(item["object"] == "customer" for item in page["data"])
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is not None or not page["data"]
            break
        params = {"limit": 2, "cursor": page["next_cursor"]}
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == ids


def test_create_returns_201_with_snake_case_fields(api: Api) -> None:
    cred = api.key()
    created = _create(
        api,
        cred,
        given_name="Ana",
        emails=[{"address": "ana@example.com"}],
        tags=["VIP"],
        addresses=[{"line1": "1 Main St", "postal_code": "78704", "country": "us"}],
    )
    assert created["object"] == "customer"
    assert created["id"].startswith("cus_")
    assert created["given_name"] == "Ana"
    assert created["emails"] == [{"address": "ana@example.com", "label": None, "primary": True}]
    assert created["addresses"][0]["postal_code"] == "78704"
    assert created["addresses"][0]["country"] == "US"
    assert created["tags"] == ["vip"]
    fetched = api.rest("GET", f"/customers/{created['id']}", as_=cred).json()
    assert fetched == created


def test_patch_absent_untouched_null_clears(api: Api) -> None:
    cred = api.key()
    created = _create(api, cred, company="Acme", notes="keep me?")
    response = api.rest("PATCH", f"/customers/{created['id']}", as_=cred, json={"notes": None})
    assert response.status_code == 200
    assert response.json()["company"] == "Acme"
    assert response.json()["notes"] is None
    bad = api.rest("PATCH", f"/customers/{created['id']}", as_=cred, json={"display_name": None})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/display_name"


def test_lifecycle_actions_delete_and_activity(api: Api) -> None:
    cred = api.key()
    created = _create(api, cred)
    archived = api.rest("POST", f"/customers/{created['id']}/archive", as_=cred)
    assert (archived.status_code, archived.json()["archived"]) == (200, True)
    listed = api.rest("GET", "/customers", as_=cred).json()["data"]
    assert created["id"] not in [c["id"] for c in listed]
    archived_only = api.rest("GET", "/customers", as_=cred, params={"archived": "true"}).json()[
        "data"
    ]
    assert [c["id"] for c in archived_only] == [created["id"]]
    activity = api.rest("GET", f"/customers/{created['id']}/activity", as_=cred).json()
    assert [a["action"] for a in activity["data"]] == ["customer.archived", "customer.created"]
    deleted = api.rest("DELETE", f"/customers/{created['id']}", as_=cred)
    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = api.rest("GET", f"/customers/{created['id']}", as_=cred)
    assert gone.status_code == 404
    assert gone.json()["code"] == "NOT_FOUND"


def test_services_and_team_routes(api: Api) -> None:
    cred = api.key()
    service = api.rest(
        "POST",
        "/services",
        as_=cred,
        json={
            "name": "Tune-up",
            "unit_price": {"amount": 12900, "currency": "USD"},
            "duration_minutes": 90,
        },
    )
    assert service.status_code == 201, service.text
    assert service.json()["unit_price"] == {"amount": 12900, "currency": "USD"}
    member = api.rest(
        "POST",
        "/team_members",
        as_=cred,
        json={"name": "Sam", "email": "sam@example.com", "role": "technician"},
    )
    assert member.status_code == 201, member.text
    deactivated = api.rest("POST", f"/team_members/{member.json()['id']}/deactivate", as_=cred)
    assert deactivated.json()["active"] is False
    dup = api.rest(
        "POST",
        "/team_members",
        as_=cred,
        json={"name": "Sam 2", "email": "SAM@example.com", "role": "admin"},
    )
    assert dup.status_code == 409
    assert dup.json()["code"] == "CONFLICT"
    viewer = api.rest("GET", "/viewer", as_=cred).json()
    assert viewer["organization"]["id"] == cred.organization_id


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/customers", {"params": {"limit": 0}}, 422, "BAD_USER_INPUT"),
        ("GET", "/customers", {"params": {"limit": 101}}, 422, "BAD_USER_INPUT"),
        ("GET", "/customers", {"params": {"limit": "ten"}}, 422, "BAD_USER_INPUT"),
        ("GET", "/customers", {"params": {"nope": "1"}}, 422, "BAD_USER_INPUT"),
        ("GET", "/customers", {"params": {"cursor": "garbage"}}, 400, "BAD_REQUEST"),
        ("GET", "/customers", {"params": {"order_by": "SIDEWAYS"}}, 422, "BAD_USER_INPUT"),
        (
            "GET",
            "/customers",
            {"params": {"updated_since": "2026-01-01T00:00:00"}},
            422,
            "BAD_USER_INPUT",
        ),
        ("POST", "/customers", {"json": {}}, 422, "BAD_USER_INPUT"),
        ("POST", "/customers", {"json": {"display_name": 5}}, 422, "BAD_USER_INPUT"),
        (
            "POST",
            "/customers",
            {"json": {"display_name": "x", "surprise": True}},
            422,
            "BAD_USER_INPUT",
        ),
        ("POST", "/customers", {"json": [1, 2]}, 422, "BAD_USER_INPUT"),
        (
            "POST",
            "/services",
            {
                "json": {
                    "name": "x",
                    "unit_price": {"amount": 1.5, "currency": "USD"},
                    "duration_minutes": 5,
                }
            },
            422,
            "BAD_USER_INPUT",
        ),
        ("GET", "/customers/cus_missing", {}, 404, "NOT_FOUND"),
        ("GET", "/nothing/here", {}, 404, "NOT_FOUND"),
        ("PUT", "/customers", {}, 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_bad_requests_are_problems(
    api: Api, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    cred = api.key()
    response = api.rest(method, path, as_=cred, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["request_id"] == response.headers["x-request-id"]


def test_validation_pointers_use_rest_names(api: Api) -> None:
    cred = api.key()
    response = api.rest(
        "POST", "/customers", as_=cred, json={"display_name": "x", "emails": [{"address": "nope"}]}
    )
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/emails/0/address"]
    cursor = api.rest("GET", "/customers", as_=cred, params={"cursor": "garbage"}).json()
    assert cursor["param"] == "cursor"


def test_malformed_json_and_oversized_bodies(api: Api) -> None:
    cred = api.key()
    bad = api.client.post(
        "/api/public/v1/customers",
        content=b"{oops",
        headers={**cred.headers(), "content-type": "application/json"},
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "BAD_REQUEST")
    huge = api.rest(
        "POST", "/customers", as_=cred, json={"display_name": "x", "notes": "n" * 1_100_000}
    )
    assert (huge.status_code, huge.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_auth_failures_are_the_same_problems_as_graphql(api: Api) -> None:
    cred = api.key(scopes=["read:services"])
    missing = api.rest("GET", "/customers", headers={"x-organization-id": cred.organization_id})
    assert (missing.status_code, missing.json()["reason"]) == (401, "missing_credentials")
    scope = api.rest("GET", "/customers", as_=cred)
    assert (scope.status_code, scope.json()["required_scope"]) == (403, "read:customers")
    other = api.rest("GET", "/services", as_=cred, headers={"x-organization-id": api.org()})
    assert (other.status_code, other.json()["reason"]) == (403, "organization_mismatch")


def test_compiled_reads_answer_exactly_like_schema_execution(api: Api, settings: Settings) -> None:
    """The same GET routes through an app whose reads all run through the schema."""
    from fastapi.testclient import TestClient

    from asteri.app import create_app

    cred = api.key()
    customer = _create(api, cred, emails=[{"address": "a@example.com"}], tags=["x"])
    api.rest(
        "POST",
        "/services",
        as_=cred,
        json={"name": "S", "unit_price": {"amount": 1, "currency": "USD"}, "duration_minutes": 5},
    )
    paths: list[tuple[str, dict[str, Any] | None]] = [
        ("/customers", {"limit": 5}),
        ("/customers", {"tag": "x", "order_by": "DISPLAY_NAME_ASC"}),
        (f"/customers/{customer['id']}", None),
        ("/customers/cus_missing", None),
        ("/customers", {"cursor": "garbage"}),
        ("/customers", {"updated_since": "2026-01-01T00:00:00"}),
        ("/services", {"active": "true"}),
        ("/team_members", None),
        ("/viewer", None),
    ]
    plain = settings.model_copy(update={"compiled_reads": False})
    with TestClient(create_app(plain), raise_server_exceptions=False) as executed:
        for path, params in paths:
            fast = api.rest("GET", path, as_=cred, params=params)
            slow = executed.get(f"/api/public/v1{path}", params=params, headers=cred.headers())
            assert fast.status_code == slow.status_code, path
            fast_body, slow_body = without_pacing(fast.json()), without_pacing(slow.json())
            for body in (fast_body, slow_body):
                body.pop("request_id", None)
            assert fast_body == slow_body, path


def test_streamed_oversized_body_is_refused_while_counting(api: Api) -> None:
    """No Content-Length (chunked): the body is counted as it arrives and refused past 1 MB."""
    cred = api.key()

    def chunks() -> Iterator[bytes]:
        yield b'{"display_name": "x", "notes": "'
        for _ in range(20):
            yield b"n" * 65_536
        yield b'"}'

    response = api.client.post(
        "/api/public/v1/customers",
        content=chunks(),
        headers={**cred.headers(), "content-type": "application/json"},
    )
    assert (response.status_code, response.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    listed = api.rest("GET", "/customers", as_=cred).json()
    assert listed["data"] == []


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "pointer"),
    [
        ("GET", "/services", {"params": {"search": "a\x00b"}}, 422, "/search"),
        ("GET", "/customers", {"params": {"tag": "\x00"}}, 422, "/tag"),
        ("POST", "/customers", {"json": {"display_name": "nul\x00"}}, 422, "/display_name"),
        (
            "POST",
            "/customers",
            {"json": {"display_name": "ok", "emails": [{"address": "a@b.co", "label": "\x00"}]}},
            422,
            "/emails/0/label",
        ),
        ("GET", "/customers/cus_%00", {}, 404, None),
    ],
)
def test_nul_characters_are_refused_on_both_backends(
    api: Api, method: str, path: str, kwargs: dict[str, Any], status: int, pointer: str | None
) -> None:
    """PostgreSQL cannot store NUL in text: refuse it up front, identically on SQLite."""
    cred = api.key()
    response = api.rest(method, path, as_=cred, **kwargs)
    assert response.status_code == status, response.text
    if pointer is not None:
        assert [e["pointer"] for e in response.json()["errors"]] == [pointer]


def test_a_create_says_where_the_new_object_lives_fresh_or_replayed(api: Api) -> None:
    cred = api.key()
    headers = {"Idempotency-Key": "create-location-1"}
    first = api.rest("POST", "/customers", as_=cred, json={"display_name": "Lo"}, headers=headers)
    assert first.status_code == 201, first.text
    location = first.headers["location"]
    assert location == f"/api/public/v1/customers/{first.json()['id']}"
    read = api.client.get(location, headers=cred.headers())
    assert read.json() == first.json()
    again = api.rest("POST", "/customers", as_=cred, json={"display_name": "Lo"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == location
    owner = api.session(org_key=cred)
    key = api.rest(
        "POST",
        "/api_keys",
        as_=owner,
        json={"name": "Sync", "scopes": ["read:team"], "expires_in": 3600},
    )
    assert key.status_code == 201, key.text
    assert key.headers["location"].endswith(f"/api_keys/{key.json()['api_key']['id']}")


def test_a_401_names_the_credentials_we_accept_on_both_surfaces(api: Api) -> None:
    org = api.key().organization_id
    rest = api.rest("GET", "/customers", headers={"x-organization-id": org})
    graphql = api.post("{ customers { nodes { id } } }", headers={"x-organization-id": org})
    for response in (rest, graphql):
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert 'header="x-api-key"' in challenge
        assert 'Bearer realm="asteri"' in challenge
    allowed = api.rest("GET", "/customers", as_=api.key())
    assert "www-authenticate" not in allowed.headers


def test_every_response_forbids_content_sniffing(api: Api) -> None:
    cred = api.key()
    responses = [
        api.rest("GET", "/customers", as_=cred),
        api.rest("GET", "/customers/cus_missing", as_=cred),
        api.rest("GET", "/customers"),
        api.post("{ viewer { organization } }", as_=cred),
        api.client.get("/api/public/v1/graphql"),
        api.client.get("/openapi.json"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.url


@pytest.mark.parametrize("value", ["0.5", "1767225600", "yesterday", "2026-01-01"])
def test_a_date_time_parameter_is_rfc_3339_text_only(api: Api, value: str) -> None:
    """A number would be read as a Unix time by a lax parser: refused like any non-date."""
    response = api.rest("GET", "/customers", as_=api.key(), params={"updated_since": value})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "/updated_since"
    fine = api.rest(
        "GET", "/customers", as_=api.key(), params={"updated_since": "2026-01-01T00:00:00Z"}
    )
    assert fine.status_code == 200, fine.text


@pytest.mark.parametrize("key", ['"', '""', " ", '" "'])
def test_an_idempotency_key_of_blanks_and_quotes_is_refused(api: Api, key: str) -> None:
    response = api.rest(
        "POST",
        "/customers",
        as_=api.key(),
        json={"display_name": "K"},
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == "invalid_idempotency_key"


def test_a_patch_cannot_null_a_field_that_may_not_be_empty(api: Api) -> None:
    """The schema says `display_name` is a string, never null: so does the server, at once."""
    cred = api.key()
    created = api.rest("POST", "/customers", as_=cred, json={"display_name": "Nullable?"}).json()
    refused = api.rest(
        "PATCH", f"/customers/{created['id']}", as_=cred, json={"display_name": None}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["pointer"] == "/display_name"
    cleared = api.rest("PATCH", f"/customers/{created['id']}", as_=cred, json={"company": None})
    assert cleared.status_code == 200, cleared.text
