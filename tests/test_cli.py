"""The ``asteri`` CLI with ``--json``, against the real test database."""

import json
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from asteri.cli import main
from asteri.kit.db import utcnow
from asteri.kit.settings import get_settings
from asteri.models import ApiKey, AuditEntry, Event
from tests.factories import Api, Credential


@pytest.fixture
def run(database_url: str) -> Iterator[Any]:
    runner = CliRunner()
    get_settings.cache_clear()

    def invoke(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(main, list(args), env={"ASTERI_DATABASE_URL": database_url})
        if ok:
            assert result.exit_code == 0, result.output
            return json.loads(result.output) if "--json" in args else result.output
        return result

    yield invoke
    get_settings.cache_clear()


def test_orgs_and_keys_lifecycle(run: Any, api: Api) -> None:
    org = run("orgs", "create", "Acme HVAC", "--json")
    assert org["id"].startswith("org_")
    assert org["name"] == "Acme HVAC"

    key = run(
        "keys",
        "create",
        "--org",
        org["id"],
        "--scope",
        "read:customers",
        "--scope",
        "write:customers",
        "--env",
        "test",
        "--expires-in",
        "30d",
        "--json",
    )
    assert key["key"].startswith("ast_test_")
    assert key["id"].startswith("key_")
    assert key["scopes"] == ["read:customers", "write:customers"]
    assert key["environment"] == "test"
    assert key["expires_at"]

    cred = Credential(org["id"], key["key"], key["id"], "test")
    data = api.gql("{ viewer { environment scopes } }", as_=cred)
    assert data["viewer"] == {
        "environment": "TEST",
        "scopes": ["read:customers", "write:customers"],
    }

    assert run("keys", "revoke", key["id"], "--json") == {"id": key["id"], "revoked": True}
    status, error = api.error("{ viewer { environment } }", as_=cred)
    assert (status, error["extensions"]["reason"]) == (401, "revoked_key")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "read:everything"], "Unknown scope"),
        (["--scope", "read:customers", "--expires-in", "400d"], "365 days"),
        (["--scope", "read:customers", "--expires-in", "soon"], "not a duration"),
    ],
)
def test_bad_key_requests_fail_clearly(run: Any, args: list[str], message: str) -> None:
    org = run("orgs", "create", "Org", "--json")
    result = run("keys", "create", "--org", org["id"], *args, ok=False)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_unknown_org_and_key_are_clear_errors(run: Any) -> None:
    result = run("keys", "create", "--org", "org_missing", "--scope", "read:customers", ok=False)
    assert result.exit_code == 2
    assert "No organization" in result.output
    result = run("keys", "revoke", "key_missing", ok=False)
    assert result.exit_code == 2


def test_demo_is_idempotent_and_prints_a_working_key(run: Any, api: Api) -> None:
    first = run("demo", "--json")
    second = run("demo", "--json")
    assert first["organization_id"] == second["organization_id"]
    assert first["api_key"] != second["api_key"]
    assert second["seeded"] is False

    old = Credential(first["organization_id"], first["api_key"], first["api_key_id"], "live")
    new = Credential(second["organization_id"], second["api_key"], second["api_key_id"], "live")
    status, _ = api.error("{ viewer { environment } }", as_=old)
    assert status == 401
    names = [
        n["displayName"]
        for n in api.gql("{ customers(first: 50) { nodes { displayName } } }", as_=new)[
            "customers"
        ]["nodes"]
    ]
    assert len(names) == len(set(names)) >= 3
    assert "Rivera Family" in names

    # The owner's demo session works as a bearer token in the demo organization.
    headers = {
        "authorization": f"Bearer {second['owner_session_token']}",
        "x-organization-id": second["organization_id"],
    }
    viewer = api.client.post(
        "/api/public/v1/graphql",
        json={"query": "{ viewer { credentialType credentialId } }"},
        headers=headers,
    ).json()["data"]["viewer"]
    assert viewer == {"credentialType": "member", "credentialId": second["owner_member_id"]}


def test_demo_seeds_all_or_nothing(run: Any, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample failing part-way leaves no sample behind, so the next run seeds them all."""
    from asteri import demo

    monkeypatch.setattr(demo, "DEMO_ORG_NAME", f"Demo {secrets.token_hex(4)}")  # a fresh one
    broken = [*demo.SAMPLE[:2], ("mutation { nope }", {}), *demo.SAMPLE[2:]]
    monkeypatch.setattr(demo, "SAMPLE", broken)
    failed = run("demo", "--json", ok=False)
    assert failed.exit_code != 0
    monkeypatch.setattr(demo, "SAMPLE", broken[:2] + broken[3:])
    seeded = run("demo", "--json")
    assert seeded["seeded"] is True
    cred = Credential(seeded["organization_id"], seeded["api_key"], seeded["api_key_id"], "live")
    names = [
        n["displayName"]
        for n in api.gql("{ customers(first: 50) { nodes { displayName } } }", as_=cred)[
            "customers"
        ]["nodes"]
    ]
    assert sorted(names) == sorted({"Rivera Family", "Northwind Offices", "Kim Nguyen"})


def test_demo_prints_words_for_make_run(run: Any) -> None:
    output = run("demo")
    assert "Demo organization: org_" in output
    assert "ast_live_" in output
    assert "/api/public/v1/graphql" in output


def test_schema_print_shows_scope_directives(run: Any) -> None:
    sdl = run("schema", "print")
    assert '@requiresScope(scope: "read:customers")' in sdl


def test_keys_list_shows_every_key_but_never_a_secret(run: Any, api: Api) -> None:
    org = run("orgs", "create", "Listing Org", "--json")
    first = run("keys", "create", "--org", org["id"], "--scope", "read:customers", "--json")
    second = run(
        *("keys", "create", "--org", org["id"], "--scope", "read:customers"),
        *("--scope", "write:customers", "--env", "test", "--name", "CI"),
        *("--per-minute", "5", "--per-day", "50", "--expires-in", "24h", "--json"),
    )
    run("keys", "revoke", first["id"], "--json")
    api.key(org=None)  # another organization's key is not listed

    listed = run("keys", "list", "--org", org["id"], "--json")
    assert listed["organization_id"] == org["id"]
    assert [k["id"] for k in listed["keys"]] == [first["id"], second["id"]]
    revoked, ci = listed["keys"]
    assert set(ci) == {
        *("id", "name", "prefix", "scopes", "environment", "per_minute", "per_day"),
        *("created_at", "expires_at", "revoked_at", "last_used_at", "rotated_from", "created_by"),
    }
    assert (ci["name"], ci["environment"], ci["scopes"]) == (
        "CI",
        "test",
        ["read:customers", "write:customers"],
    )
    assert (ci["per_minute"], ci["per_day"]) == (5, 50)
    assert ci["expires_at"] == second["expires_at"]
    assert ci["revoked_at"] is None
    assert ci["last_used_at"] is None
    assert ci["rotated_from"] is None
    assert second["key"].startswith(ci["prefix"])
    assert len(ci["prefix"]) < len(second["key"])
    assert revoked["revoked_at"] is not None

    text = run("keys", "list", "--org", org["id"])
    assert first["id"] in text
    assert "revoked=" in text
    for output in (str(listed), text):
        assert first["key"] not in output
        assert second["key"] not in output

    assert run("keys", "list", "--org", "org_missing", ok=False).exit_code == 2


VIEWER = "{ viewer { environment scopes } }"  # ad hoc: refused to persisted-only keys


def _status(api: Api, cred: Credential) -> tuple[int, str | None]:
    """A REST read with the key (the keys here are persisted-only): (status, reason or None)."""
    response = api.rest("GET", "/customers", as_=cred)
    if response.status_code == 200:
        return 200, None
    return response.status_code, response.json()["reason"]


def _create(run: Any, org_id: str) -> dict[str, Any]:
    created: dict[str, Any] = run(
        *("keys", "create", "--org", org_id, "--scope", "read:customers"),
        *("--scope", "read:services", "--env", "test", "--name", "Billing sync"),
        *("--per-minute", "500", "--per-day", "5000", "--persisted-only"),
        *("--expires-in", "30d", "--json"),
    )
    return created


def test_rotate_with_overlap_keeps_both_keys_working_until_it_ends(run: Any, api: Api) -> None:
    org = run("orgs", "create", "Rotating Org", "--json")
    old = _create(run, org["id"])
    before = utcnow()
    new = run("keys", "rotate", old["id"], "--overlap", "24h", "--json")
    after = utcnow()

    assert new["id"] != old["id"]
    assert new["key"] != old["key"]
    assert new["key"].startswith("ast_test_")
    assert new["rotated_from"] == old["id"]
    valid_until = datetime.fromisoformat(new["old_key_valid_until"])
    assert before + timedelta(hours=24) <= valid_until <= after + timedelta(hours=24)
    # Same policy: name, scopes, environment, limits, persisted_only and expiry.
    for field in ("name", "scopes", "environment", "per_minute", "per_day", "persisted_only"):
        assert new[field] == old[field], field
    assert new["expires_at"] == old["expires_at"]

    old_cred = Credential(org["id"], old["key"], old["id"], "test")
    new_cred = Credential(org["id"], new["key"], new["id"], "test")
    assert _status(api, old_cred) == (200, None)
    assert _status(api, new_cred) == (200, None)
    # The new key is as narrow as the old: no write scope, and still persisted-only.
    denied = api.rest("POST", "/customers", as_=new_cred, json={"display_name": "Nope"})
    assert (denied.status_code, denied.json()["reason"]) == (403, "missing_scope")
    status, error = api.error(VIEWER, as_=new_cred)
    assert status == 403, error

    listed = {k["id"]: k for k in run("keys", "list", "--org", org["id"], "--json")["keys"]}
    assert listed[new["id"]]["rotated_from"] == old["id"]
    assert listed[old["id"]]["rotated_from"] is None
    assert datetime.fromisoformat(listed[old["id"]]["revoked_at"]) == valid_until
    assert (listed[new["id"]]["per_minute"], listed[new["id"]]["per_day"]) == (500, 5000)
    assert f"rotated_from={old['id']}" in run("keys", "list", "--org", org["id"])

    # The overlap ends (moved into the past rather than waited for).
    with Session(api.engine) as session:
        session.execute(
            update(ApiKey)
            .where(col(ApiKey.public_id) == old["id"])
            .values(revoked_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    assert _status(api, old_cred) == (401, "revoked_key")
    assert _status(api, new_cred) == (200, None)


def test_rotate_with_no_overlap_revokes_the_old_key_at_once(run: Any, api: Api) -> None:
    org = run("orgs", "create", "Rotating Org", "--json")
    old = _create(run, org["id"])
    text = run("keys", "rotate", old["id"], "--overlap", "0")
    assert "shown once" in text

    listed = run("keys", "list", "--org", org["id"], "--json")["keys"]
    new = next(k for k in listed if k["rotated_from"] == old["id"])
    assert new["prefix"] in text
    old_cred = Credential(org["id"], old["key"], old["id"], "test")
    assert _status(api, old_cred) == (401, "revoked_key")


def test_revoke_during_the_overlap_is_immediate(run: Any, api: Api) -> None:
    org = run("orgs", "create", "Rotating Org", "--json")
    old = _create(run, org["id"])
    run("keys", "rotate", old["id"], "--json")
    old_cred = Credential(org["id"], old["key"], old["id"], "test")
    assert _status(api, old_cred) == (200, None)
    run("keys", "revoke", old["id"], "--json")
    assert _status(api, old_cred) == (401, "revoked_key")


@pytest.mark.parametrize(
    ("setup", "overlap", "message"),
    [
        ("revoked", "24h", "is revoked"),
        ("rotated", "24h", "already rotated"),
        ("fresh", "8d", "between 0 and 7 days"),
        ("fresh", "soon", "not a duration"),
        ("missing", "24h", "No API key with id `key_missing`"),
    ],
)
def test_rotate_refuses_clearly(run: Any, api: Api, setup: str, overlap: str, message: str) -> None:
    org = run("orgs", "create", "Rotating Org", "--json")
    key_id = "key_missing" if setup == "missing" else _create(run, org["id"])["id"]
    if setup == "revoked":
        run("keys", "revoke", key_id, "--json")
    if setup == "rotated":
        run("keys", "rotate", key_id, "--json")
    keys_before = run("keys", "list", "--org", org["id"], "--json")["keys"]

    result = run("keys", "rotate", key_id, "--overlap", overlap, "--json", ok=False)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert run("keys", "list", "--org", org["id"], "--json")["keys"] == keys_before


def test_an_expired_key_cannot_be_rotated(run: Any, api: Api) -> None:
    org = run("orgs", "create", "Rotating Org", "--json")
    old = _create(run, org["id"])
    with Session(api.engine) as session:
        session.execute(
            update(ApiKey)
            .where(col(ApiKey.public_id) == old["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    result = run("keys", "rotate", old["id"], ok=False)
    assert result.exit_code == 2
    assert "has expired" in result.output


def test_every_key_change_by_the_cli_is_audited_as_the_operator(run: Any, api: Api) -> None:
    org = run("orgs", "create", "Audited HVAC", "--json")["id"]
    created = run(
        "keys", "create", "--org", org, "--scope", "read:customers", "--env", "test", "--json"
    )
    updated = run(
        "keys", "update", created["id"], "--scope", "read:services", "--per-minute", "7", "--json"
    )
    assert (updated["scopes"], updated["per_minute"]) == (["read:services"], 7)
    listed = {k["id"]: k for k in run("keys", "list", "--org", org, "--json")["keys"]}
    assert listed[created["id"]]["created_by"] == "operator:cli"
    rotated = run("keys", "rotate", created["id"], "--overlap", "1h", "--json")
    run("keys", "revoke", created["id"])
    run("keys", "revoke", created["id"])  # already revoked: nothing more to record

    with Session(api.engine) as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(col(AuditEntry.resource_type) == "api_key")
            .where(col(AuditEntry.resource_id).in_([created["id"], rotated["id"]]))
            .order_by(col(AuditEntry.id))
        ).all()
        events = session.scalars(
            select(Event).where(col(Event.resource_id).in_([created["id"], rotated["id"]]))
        ).all()
    assert [(e.action, e.resource_id) for e in entries] == [
        ("api_key.created", created["id"]),
        ("api_key.updated", created["id"]),
        ("api_key.rotated", rotated["id"]),
        ("api_key.revoked", created["id"]),
    ]
    assert entries[1].changed_fields == ["per_minute", "scopes"]
    assert {(e.actor_type, e.actor_id, e.environment) for e in entries} == {
        ("operator", "cli", "test")
    }
    assert len(events) == 4
    for event in events:  # the public shape only
        assert created["key"] not in orjson.dumps(event.payload).decode()
        assert "secret_hash" not in event.payload


def test_cli_update_refuses_bad_terms_and_nothing_to_change(run: Any, api: Api) -> None:
    cred = api.key()
    bad = run("keys", "update", cred.key_id, "--scope", "read:everything", ok=False)
    assert bad.exit_code == 2
    assert "read:everything" in bad.output
    nothing = run("keys", "update", cred.key_id, ok=False)
    assert nothing.exit_code == 2
