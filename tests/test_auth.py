"""Every 401 and 403 the brief names, through HTTP, with the exact codes and reasons."""

from datetime import datetime, timedelta

import jwt
import pytest
from sqlalchemy import select, update
from sqlmodel import col

from asteri.authz.keys import new_secret
from asteri.kit.db import utcnow
from asteri.models import ApiKey, Environment
from tests.factories import Api

QUERY = "{ customers(first: 1) { nodes { id } } }"


def _expect(api: Api, headers: dict[str, str], status: int, code: str, reason: str) -> None:
    got_status, error = api.error(QUERY, as_=None, headers=headers)
    assert (got_status, error["extensions"]["code"], error["extensions"]["reason"]) == (
        status,
        code,
        reason,
    ), error
    assert error["extensions"]["request_id"]


def test_missing_credentials_is_401(api: Api) -> None:
    _expect(api, {"x-organization-id": api.org()}, 401, "UNAUTHENTICATED", "missing_credentials")


@pytest.mark.parametrize(
    "key",
    [
        "ast_live_short",
        "sk_live_" + "a" * 49,
        "ast_prod_" + "a" * 49,
        "",
    ],
)
def test_malformed_key_is_401(api: Api, key: str) -> None:
    _expect(
        api,
        {"x-api-key": key, "x-organization-id": api.org()},
        401,
        "UNAUTHENTICATED",
        "malformed_key",
    )


def test_key_with_a_broken_checksum_is_rejected_without_lookup(api: Api) -> None:
    cred = api.key()
    tampered = cred.key[:-1] + ("A" if cred.key[-1] != "A" else "B")
    _expect(
        api,
        {"x-api-key": tampered, "x-organization-id": cred.organization_id},
        401,
        "UNAUTHENTICATED",
        "malformed_key",
    )


def test_well_formed_unknown_key_is_401(api: Api) -> None:
    _expect(
        api,
        {"x-api-key": new_secret(Environment.LIVE), "x-organization-id": api.org()},
        401,
        "UNAUTHENTICATED",
        "invalid_key",
    )


def test_revoked_key_is_401_on_the_next_request(api: Api) -> None:
    from asteri.admin import revoke_key

    cred = api.key()
    api.gql(QUERY, as_=cred)
    revoke_key(api.engine, cred.key_id)
    _expect(api, cred.headers(), 401, "UNAUTHENTICATED", "revoked_key")


def test_expired_key_is_401(api: Api) -> None:
    cred = api.key(expires_in=timedelta(hours=1))
    api.gql(QUERY, as_=cred)
    with api.engine.begin() as conn:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.public_id == cred.key_id)  # type: ignore[arg-type]
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    _expect(api, cred.headers(), 401, "UNAUTHENTICATED", "expired_key")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "token", "Bearer not-a-session"],
)
def test_malformed_bearer_is_401(api: Api, authorization: str) -> None:
    _expect(
        api,
        {"authorization": authorization, "x-organization-id": api.org()},
        401,
        "UNAUTHENTICATED",
        "malformed_bearer",
    )


def test_unrecognised_bearer_token_is_401(api: Api) -> None:
    """A well-formed session token that this server did not sign."""
    forged = jwt.encode(
        {"iss": "asteri", "sub": "per_x", "sid": "ses_x", "iat": 0, "exp": 4_102_444_800},
        "not the server's secret, but long enough for HS256",
        algorithm="HS256",
    )
    _expect(
        api,
        {"authorization": f"Bearer {forged}", "x-organization-id": api.org()},
        401,
        "UNAUTHENTICATED",
        "invalid_bearer",
    )


def test_missing_organization_header_is_401(api: Api) -> None:
    cred = api.key()
    _expect(api, {"x-api-key": cred.key}, 401, "UNAUTHENTICATED", "missing_organization")


def test_another_existing_organization_is_403(api: Api) -> None:
    cred = api.key()
    other = api.org()
    _expect(
        api,
        {"x-api-key": cred.key, "x-organization-id": other},
        403,
        "FORBIDDEN",
        "organization_mismatch",
    )


def test_unknown_organization_gets_the_same_403(api: Api) -> None:
    """The answer for a nonexistent org equals the one for a real one: no existence oracle."""
    cred = api.key()
    _expect(
        api,
        {"x-api-key": cred.key, "x-organization-id": "org_doesnotexist"},
        403,
        "FORBIDDEN",
        "organization_mismatch",
    )


def test_missing_scope_names_the_scope(api: Api) -> None:
    cred = api.key(scopes=["read:services"])
    status, error = api.error(QUERY, as_=cred)
    assert status == 403
    assert error["extensions"]["required_scope"] == "read:customers"
    assert error["extensions"]["reason"] == "missing_scope"
    assert "read:customers" in error["message"]


def test_viewer_needs_credentials_but_no_scope(api: Api) -> None:
    cred = api.key(scopes=["read:services"])
    data = api.gql("{ viewer { organization { id } environment scopes credentialId } }", as_=cred)
    assert data["viewer"] == {
        "organization": {"id": cred.organization_id},
        "environment": "LIVE",
        "scopes": ["read:services"],
        "credentialId": cred.key_id,
    }
    status, error = api.error(
        "{ viewer { environment } }", as_=None, headers={"x-organization-id": cred.organization_id}
    )
    assert (status, error["extensions"]["code"]) == (401, "UNAUTHENTICATED")


def test_introspection_is_public_so_graphiql_can_load_the_schema(api: Api) -> None:
    response = api.post("{ __schema { queryType { name } } }")
    assert response.status_code == 200
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


def test_secrets_are_stored_only_as_hashes(api: Api) -> None:
    cred = api.key()
    with api.engine.connect() as conn:
        rows = conn.execute(ApiKey.__table__.select()).mappings().all()  # type: ignore[attr-defined]
    dumped = repr([dict(r) for r in rows])
    assert cred.key not in dumped
    assert cred.key.split("_")[2][:6] in dumped  # the short display prefix identifies it


PACING = "{ viewer { expiresAt rateLimits { name limit remaining resetsIn } } }"


def test_viewer_says_when_the_credential_ends_and_what_is_left_to_spend(api: Api) -> None:
    cred = api.key(expires_in=timedelta(hours=5), per_minute=5, per_day=100)
    with api.engine.connect() as connection:
        expires_at = connection.scalar(
            select(col(ApiKey.expires_at)).where(col(ApiKey.public_id) == cred.key_id)
        )
    assert expires_at is not None
    first = api.gql(PACING, as_=cred)["viewer"]
    assert datetime.fromisoformat(first["expiresAt"]) == expires_at
    minute, day = first["rateLimits"]
    assert (minute["name"], minute["limit"], minute["remaining"]) == ("minute", 5, 4)
    assert (day["name"], day["limit"], day["remaining"]) == ("day", 100, 99)
    assert 1 <= minute["resetsIn"] <= 60
    rest = api.rest("GET", "/viewer", as_=cred).json()
    assert [w["remaining"] for w in rest["rate_limits"]] == [3, 98]
    assert datetime.fromisoformat(rest["expires_at"]) == expires_at


def test_a_rotated_keys_end_is_its_scheduled_revocation(api: Api) -> None:
    cred = api.key(expires_in=timedelta(days=30))
    owner = api.session(org_key=api.key(org=cred.organization_id))
    rotated = api.rest(
        "POST", f"/api_keys/{cred.key_id}/rotate", as_=owner, json={"overlap_seconds": 3600}
    )
    assert rotated.status_code == 200, rotated.text
    ends = datetime.fromisoformat(api.gql(PACING, as_=cred)["viewer"]["expiresAt"])
    until = datetime.fromisoformat(rotated.json()["old_key_valid_until"])
    assert ends == until
    session = api.gql(PACING, as_=owner)["viewer"]
    assert datetime.fromisoformat(session["expiresAt"]) > utcnow()
