"""The ``asteri`` CLI with ``--json``, against the real test database."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from asteri.cli import main
from asteri.kit.settings import get_settings
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
        *("created_at", "expires_at", "revoked_at", "last_used_at"),
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
