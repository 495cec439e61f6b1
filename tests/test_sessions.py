"""Bearer sessions: a person, one token, several organizations; the role decides the scopes."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlmodel import col

from asteri.authz.roles import ROLE_SCOPES
from asteri.authz.sessions import issue_session, revoke_session
from asteri.cli import main
from asteri.kit.db import utcnow
from asteri.kit.errors import BadUserInput
from asteri.kit.settings import get_settings
from asteri.models import TeamMember
from tests.factories import Api, Credential

VIEWER = "{ viewer { organization { id } credentialType credentialId scopes } }"


@dataclass
class Person:
    email: str
    owner_of: Credential  # the org where they are an owner (and a key to set it up)
    owner_member: str
    technician_of: Credential  # where they are a technician
    technician_member: str


def _member(api: Api, cred: Credential, email: str, role: str) -> str:
    created = api.rest(
        "POST",
        "/team_members",
        as_=cred,
        json={"name": "Pat Doe", "email": email, "role": role},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture
def person(api: Api) -> Person:
    email = f"pat.{api.org()[-8:].lower()}@example.com"
    first, second = api.key(), api.key()
    return Person(
        email=email,
        owner_of=first,
        owner_member=_member(api, first, email, "owner"),
        technician_of=second,
        technician_member=_member(api, second, email.upper(), "technician"),  # same person
    )


def _token(api: Api, member: str, ttl: timedelta = timedelta(hours=1)) -> str:
    secret = api.settings.session_secret.get_secret_value()
    return issue_session(api.engine, member, ttl=ttl, secret=secret).token


def _as(token: str, org: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "x-organization-id": org}


def _viewer(api: Api, headers: dict[str, str]) -> Any:
    response = api.client.post("/api/public/v1/graphql", json={"query": VIEWER}, headers=headers)
    return response.status_code, response.json()


def _reason(api: Api, headers: dict[str, str]) -> tuple[int, str, str]:
    status, body = _viewer(api, headers)
    error = body["errors"][0]["extensions"]
    return status, error["code"], error["reason"]


def test_one_token_switches_organizations_and_the_role_decides(api: Api, person: Person) -> None:
    token = _token(api, person.owner_member)
    status, body = _viewer(api, _as(token, person.owner_of.organization_id))
    assert status == 200, body
    viewer = body["data"]["viewer"]
    assert viewer["credentialType"] == "member"
    assert viewer["credentialId"] == person.owner_member
    assert viewer["organization"]["id"] == person.owner_of.organization_id
    assert set(viewer["scopes"]) == {s.value for s in ROLE_SCOPES["owner"]}

    status, body = _viewer(api, _as(token, person.technician_of.organization_id))
    assert status == 200, body
    viewer = body["data"]["viewer"]
    assert viewer["credentialId"] == person.technician_member
    assert set(viewer["scopes"]) == {s.value for s in ROLE_SCOPES["technician"]}


def test_scopes_follow_the_role_through_rest(api: Api, person: Person) -> None:
    token = _token(api, person.owner_member)
    tech_org = person.technician_of.organization_id
    assert api.rest("GET", "/customers", headers=_as(token, tech_org)).status_code == 200
    refused = api.rest(
        "POST", "/customers", headers=_as(token, tech_org), json={"display_name": "Nope"}
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["required_scope"] == "write:customers"
    owner_org = person.owner_of.organization_id
    created = api.rest(
        "POST", "/customers", headers=_as(token, owner_org), json={"display_name": "Yes"}
    )
    assert created.status_code == 201, created.text


def test_writes_are_audited_as_the_member(api: Api, person: Person) -> None:
    token = _token(api, person.owner_member)
    org = person.owner_of.organization_id
    created = api.rest("POST", "/customers", headers=_as(token, org), json={"display_name": "A"})
    activity = api.rest(
        "GET", f"/customers/{created.json()['id']}/activity", headers=_as(token, org)
    )
    assert activity.status_code == 200, activity.text
    entry = activity.json()["data"][0]
    assert (entry["actor_type"], entry["actor_id"]) == ("member", person.owner_member)


def test_an_organization_they_do_not_belong_to_is_403(api: Api, person: Person) -> None:
    token = _token(api, person.owner_member)
    for org in (api.org(), "org_doesnotexist"):
        assert _reason(api, _as(token, org)) == (403, "FORBIDDEN", "organization_mismatch")


def test_an_inactive_membership_is_403(api: Api, person: Person) -> None:
    token = _token(api, person.owner_member)
    with api.engine.begin() as conn:
        conn.execute(
            update(TeamMember)
            .where(col(TeamMember.public_id) == person.technician_member)
            .values(active=False)
        )
    org = person.technician_of.organization_id
    assert _reason(api, _as(token, org)) == (403, "FORBIDDEN", "organization_mismatch")


def test_missing_organization_is_401(api: Api, person: Person) -> None:
    token = _token(api, person.owner_member)
    status, code, reason = _reason(api, {"authorization": f"Bearer {token}"})
    assert (status, code, reason) == (401, "UNAUTHENTICATED", "missing_organization")


def test_revoked_session_is_401_on_the_next_request(api: Api, person: Person) -> None:
    secret = api.settings.session_secret.get_secret_value()
    issued = issue_session(api.engine, person.owner_member, ttl=timedelta(hours=1), secret=secret)
    headers = _as(issued.token, person.owner_of.organization_id)
    assert _viewer(api, headers)[0] == 200
    revoke_session(api.engine, issued.session_id)
    assert _reason(api, headers) == (401, "UNAUTHENTICATED", "revoked_bearer")
    other = _token(api, person.owner_member)  # another session of the same person still works
    assert _viewer(api, _as(other, person.owner_of.organization_id))[0] == 200


def _signed(api: Api, person: Person, **claims: Any) -> str:
    secret = api.settings.session_secret.get_secret_value()
    issued = issue_session(api.engine, person.owner_member, ttl=timedelta(hours=1), secret=secret)
    payload = jwt.decode(issued.token, options={"verify_signature": False})
    key = claims.pop("_key", secret)
    algorithm = claims.pop("_alg", "HS256")
    return jwt.encode({**payload, **claims}, key, algorithm=algorithm)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": 1_000_000_000}, "expired_bearer"),
        ({"_key": "someone else's secret, long enough for HS256"}, "invalid_bearer"),
        ({"sid": "ses_unknown"}, "invalid_bearer"),
        ({"sub": "per_someone_else"}, "invalid_bearer"),
        ({"iss": "elsewhere"}, "invalid_bearer"),
        ({"_alg": "HS512", "_key": "x" * 64}, "invalid_bearer"),
    ],
)
def test_bad_tokens_are_401(api: Api, person: Person, claims: dict[str, Any], reason: str) -> None:
    token = _signed(api, person, **claims)
    headers = _as(token, person.owner_of.organization_id)
    assert _reason(api, headers) == (401, "UNAUTHENTICATED", reason)


def test_an_unsigned_token_is_refused(api: Api, person: Person) -> None:
    payload = jwt.decode(_token(api, person.owner_member), options={"verify_signature": False})
    unsigned = jwt.encode(payload, "", algorithm="none")
    headers = _as(unsigned, person.owner_of.organization_id)
    assert _reason(api, headers) == (401, "UNAUTHENTICATED", "invalid_bearer")


def test_session_lifetime_is_bounded(api: Api, person: Person) -> None:
    secret = api.settings.session_secret.get_secret_value()
    for ttl in (timedelta(0), timedelta(days=8)):
        with pytest.raises(BadUserInput):
            issue_session(api.engine, person.owner_member, ttl=ttl, secret=secret)


@pytest.fixture
def run(database_url: str) -> Iterator[Any]:
    runner = CliRunner()
    get_settings.cache_clear()

    def invoke(*args: str) -> Any:
        result = runner.invoke(main, list(args), env={"ASTERI_DATABASE_URL": database_url})
        assert result.exit_code == 0, result.output
        return result.output

    yield invoke
    get_settings.cache_clear()


def test_cli_issues_and_revokes_tokens(api: Api, person: Person, run: Any) -> None:
    issued = json.loads(
        run("tokens", "issue", "--member", person.owner_member, "--ttl", "1h", "--json")
    )
    assert set(issued) == {"token", "expires_at", "session_id", "person_id"}
    remaining = (datetime.fromisoformat(issued["expires_at"]) - utcnow()).total_seconds()
    assert 3500 < remaining <= 3600
    headers = _as(issued["token"], person.owner_of.organization_id)
    assert _viewer(api, headers)[0] == 200
    revoked = json.loads(run("tokens", "revoke", issued["session_id"], "--json"))
    assert revoked == {"id": issued["session_id"], "revoked": True}
    assert _reason(api, headers) == (401, "UNAUTHENTICATED", "revoked_bearer")
