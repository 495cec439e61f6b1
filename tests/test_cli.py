"""The ``asteri`` CLI with ``--json``, against the real test database."""

import json
import secrets
from collections import Counter
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
from tests.factories import Api, Bearer, Credential
from tests.test_security_center import CREATE, GET, REVOKE, ROTATE, UPDATE, _new_key


@pytest.fixture
def run(database_url: str) -> Iterator[Any]:
    runner = CliRunner()
    get_settings.cache_clear()

    def invoke(*args: str, ok: bool = True) -> Any:
        get_settings.cache_clear()  # the environment read afresh, as by a new process
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


def test_orgs_number_prefixes_are_set_and_checked(run: Any) -> None:
    org = run("orgs", "create", "Prefixed", "--json")
    changed = run("orgs", "number-prefixes", org["id"], "--estimates", "Q", "--json")
    assert changed == {"id": org["id"], "estimates": "Q", "invoices": "INV"}
    changed = run("orgs", "number-prefixes", org["id"], "--invoices", "BILL2", "--json")
    assert changed == {"id": org["id"], "estimates": "Q", "invoices": "BILL2"}
    for args in (["--estimates", "q"], ["--invoices", "IN-V"], ["--estimates", "A" * 13]):
        refused = run("orgs", "number-prefixes", org["id"], *args, ok=False)
        assert refused.exit_code == 2
        assert "must be an uppercase letter" in refused.output
    missing = run("orgs", "number-prefixes", "org_missing", "--estimates", "Q", ok=False)
    assert (missing.exit_code, "No organization" in missing.output) == (2, True)


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


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _all(api: Api, cred: Credential, path: str) -> list[dict[str, Any]]:
    response = api.rest("GET", path, as_=cred, params={"limit": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["has_more"] is False  # the demo's month fits one page
    rows: list[dict[str, Any]] = body["data"]
    return rows


def test_demo_seeds_a_believable_month_of_money(
    run: Any, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Estimates in every state, invoices in every state, payments by four methods (one
    pending, one failed) and a refund, read back over REST with the printed key."""
    from asteri import demo

    monkeypatch.setattr(demo, "DEMO_ORG_NAME", f"Demo {secrets.token_hex(4)}")  # a fresh one
    seeded = run("demo", "--json")
    assert seeded["seeded"] is True
    cred = Credential(seeded["organization_id"], seeded["api_key"], seeded["api_key_id"], "live")

    estimates = _all(api, cred, "/estimates")
    assert set(Counter(e["status"] for e in estimates)) == {
        "draft",
        "sent",
        "approved",
        "declined",
        "expired",  # by the runner's chore, run once after the seed
    }
    (converted,) = [e for e in estimates if e["invoice_id"] is not None]
    assert converted["status"] == "approved"
    assert all(e["currency"] == "USD" and e["tax_rate_bps"] == 825 for e in estimates)
    (declined,) = [e for e in estimates if e["status"] == "declined"]
    assert declined["decline_reason"]

    invoices = _all(api, cred, "/invoices")
    by_status = Counter(i["status"] for i in invoices)
    assert set(by_status) == {"draft", "open", "partially_paid", "paid", "void", "uncollectible"}
    assert converted["invoice_id"] in {i["id"] for i in invoices if i["status"] == "paid"}
    for invoice in invoices:
        if invoice["status"] == "paid":
            assert invoice["amount_paid"] == invoice["total"], invoice
        elif invoice["status"] == "partially_paid":
            assert 0 < invoice["amount_paid"]["amount"] < invoice["total"]["amount"]
        elif invoice["status"] == "void":
            assert invoice["void_reason"]
    lines = [line for i in invoices for line in i["line_items"]]
    assert any(line["service_id"] for line in lines)
    assert any(line["service_id"] is None for line in lines)

    payments = _all(api, cred, "/payments")
    assert len({p["method"] for p in payments}) >= 4
    statuses = Counter(p["status"] for p in payments)
    assert statuses["pending"] >= 1
    (failed,) = [p for p in payments if p["status"] == "failed"]
    assert failed["method"] == "card"
    assert failed["failure_reason"]
    assert all(_at(p["received_at"]) <= _at(p["created_at"]) for p in payments)
    refunded = [p for p in payments if p["amount_refunded"]["amount"] > 0]
    assert refunded
    refunds = _all(api, cred, f"/payments/{refunded[0]['id']}/refunds")
    assert len(refunds) == 1
    assert refunds[0]["amount"] == refunded[0]["amount_refunded"]


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


# --- One implementation: the CLI runs the security center's resolvers, as the operator -----


def _trail(api: Api, key_ids: list[str]) -> list[tuple[AuditEntry, Event]]:
    """The keys' audit entries, oldest first, each with the event of the same change."""
    with Session(api.engine) as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(col(AuditEntry.resource_type) == "api_key")
            .where(col(AuditEntry.resource_id).in_(key_ids))
            .order_by(col(AuditEntry.id))
        ).all()
        events = session.scalars(
            select(Event)
            .where(col(Event.resource_type) == "api_key")
            .where(col(Event.resource_id).in_(key_ids))
            .order_by(col(Event.id))
        ).all()
    assert [e.action for e in entries] == [e.type for e in events]
    return list(zip(entries, events, strict=True))


# What differs between two keys made alike: their identity and their moments.
_OWN = {"id", "display_prefix", "created_at", "expires_at", "revoked_at", "rotated_from"}


def _shape(entry: AuditEntry, event: Event) -> tuple[Any, ...]:
    payload = {k: v for k, v in event.payload.items() if k not in _OWN | {"created_by"}}
    return (entry.action, entry.changed_fields, event.resource_type, payload)


def test_a_cli_change_is_recorded_as_the_security_centers_with_the_operator_as_actor(
    run: Any, api: Api
) -> None:
    owner = api.session()
    org = owner.organization_id
    person = api.gql(CREATE, {"input": _new_key(environment="TEST")}, as_=owner)
    by_person = person["createApiKey"]["apiKey"]["id"]
    by_cli = run(
        *("keys", "create", "--org", org, "--scope", "read:customers", "--env", "test"),
        *("--name", "Billing sync", "--expires-in", "1d", "--json"),
    )["id"]

    changes = {"scopes": ["read:services"], "perMinute": 7}
    api.gql(UPDATE, {"id": by_person, "input": changes}, as_=owner)
    run("keys", "update", by_cli, "--scope", "read:services", "--per-minute", "7", "--json")
    rotated = api.gql(ROTATE, {"id": by_person, "input": {"overlapSeconds": 3600}}, as_=owner)
    person_successor = rotated["rotateApiKey"]["apiKey"]["id"]
    cli_successor = run("keys", "rotate", by_cli, "--overlap", "1h", "--json")["id"]
    api.gql(REVOKE, {"id": by_person}, as_=owner)
    run("keys", "revoke", by_cli, "--json")

    person_trail = _trail(api, [by_person, person_successor])
    cli_trail = _trail(api, [by_cli, cli_successor])
    actions = [f"api_key.{verb}" for verb in ("created", "updated", "rotated", "revoked")]
    assert [entry.action for entry, _ in cli_trail] == actions
    # Update, rotate and revoke: the same entry and event, field for field. (Creating names
    # `environment` among its fields when a person sends it; the CLI's records what it did.)
    assert [_shape(*change) for change in cli_trail[1:]] == [
        _shape(*change) for change in person_trail[1:]
    ]
    assert _shape(*cli_trail[0])[2:] == _shape(*person_trail[0])[2:]
    # Each actor acts in its own environment: the person's session's, the operator the key's.
    for entry, event in person_trail:
        assert (entry.actor_type, entry.actor_id) == ("member", owner.key_id)
        assert entry.environment == event.environment == "live"
        assert entry.request_id is not None
    for entry, event in cli_trail:
        assert (entry.actor_type, entry.actor_id) == ("operator", "cli")
        assert entry.environment == event.environment == "test"
        assert entry.request_id is event.request_id is None
    assert cli_trail[2][1].payload["created_by"] == "operator:cli"
    assert cli_trail[2][1].payload["rotated_from"] == by_cli

    # The CLI's events carry the security center's own view of the key.
    seen = api.rest("GET", f"/api_keys/{by_cli}", as_=owner).json()
    revoked_event = cli_trail[3][1].payload
    assert set(revoked_event) == set(seen)  # the REST object, ``object`` included
    assert revoked_event["revoked_at"] == seen["revoked_at"]
    assert revoked_event["status"] == seen["status"] == "revoked"  # events spell as REST does


def test_the_cli_manages_a_test_environment_key_from_the_security_center(
    run: Any, api: Api
) -> None:
    owner = api.session()
    created = api.gql(
        CREATE,
        {"input": _new_key(environment="TEST", scopes=["read:customers", "read:services"])},
        as_=owner,
    )["createApiKey"]
    key = Credential(owner.organization_id, created["secret"], created["apiKey"]["id"], "test")
    assert _status(api, key) == (200, None)
    assert _status(api, key) == (200, None)  # now served from the key cache

    updated = run("keys", "update", key.key_id, "--scope", "read:services", "--json")
    assert updated["scopes"] == ["read:services"]
    assert _status(api, key) == (403, "missing_scope")  # the very next request, cached or not
    assert api.rest("GET", "/services", as_=key).status_code == 200
    seen = api.gql(GET, {"id": key.key_id}, as_=owner)["apiKey"]
    assert (seen["scopes"], seen["environment"]) == (["read:services"], "TEST")

    rotated = run("keys", "rotate", key.key_id, "--overlap", "0", "--json")
    assert rotated["environment"] == "test"
    assert rotated["key"].startswith("ast_test_")
    successor = Credential(owner.organization_id, rotated["key"], rotated["id"], "test")
    assert api.rest("GET", "/services", as_=key).status_code == 401
    assert api.rest("GET", "/services", as_=successor).status_code == 200
    successor_seen = api.gql(GET, {"id": successor.key_id}, as_=owner)["apiKey"]
    assert (successor_seen["rotatedFrom"], successor_seen["createdBy"]) == (
        key.key_id,
        "operator:cli",
    )

    run("keys", "revoke", successor.key_id, "--json")
    refused = api.rest("GET", "/services", as_=successor)
    assert (refused.status_code, refused.json()["reason"]) == (401, "revoked_key")
    by_cli = [
        e for e, _ in _trail(api, [key.key_id, successor.key_id]) if e.actor_type == "operator"
    ]
    assert [(e.action, e.environment) for e in by_cli] == [
        ("api_key.updated", "test"),
        ("api_key.rotated", "test"),
        ("api_key.revoked", "test"),
    ]


def test_a_cli_revoke_refuses_the_keys_very_next_request_cached_or_not(run: Any, api: Api) -> None:
    cred = api.key(scopes=["read:customers"])
    for _ in range(2):  # the second is served from the key cache
        assert api.rest("GET", "/customers", as_=cred).status_code == 200
    run("keys", "revoke", cred.key_id, "--json")
    cached = api.rest("GET", "/customers", as_=cred)  # a REST read may use the cache
    assert (cached.status_code, cached.json()["reason"]) == (401, "revoked_key")
    status, error = api.error(VIEWER, as_=cred)  # free-text GraphQL never does
    assert (status, error["extensions"]["reason"]) == (401, "revoked_key")


def test_the_cli_and_the_security_center_refuse_in_the_same_words(run: Any, api: Api) -> None:
    owner = api.session()
    revoked = _create_in_security_center(api, owner)
    api.gql(REVOKE, {"id": revoked}, as_=owner)
    rotated = _create_in_security_center(api, owner)
    api.gql(ROTATE, {"id": rotated}, as_=owner)
    fresh = _create_in_security_center(api, owner)
    # The key's state (409), or the input (422).
    refusals: list[tuple[list[str], str, dict[str, Any], int]] = [
        (["rotate", revoked], ROTATE, {"id": revoked}, 409),
        (["rotate", rotated], ROTATE, {"id": rotated}, 409),
        (
            ["rotate", fresh, "--overlap", "8d"],
            ROTATE,
            {"id": fresh, "input": {"overlapSeconds": 8 * 86_400}},
            422,
        ),
        (
            ["update", fresh, "--scope", "read:everything", "--scope", "write:all"],
            UPDATE,
            {"id": fresh, "input": {"scopes": ["read:everything", "write:all"]}},
            422,
        ),
        (["update", fresh, "--per-day", "0"], UPDATE, {"id": fresh, "input": {"perDay": 0}}, 422),
    ]
    for args, document, variables, expected in refusals:
        status, error = api.error(document, variables, as_=owner)
        assert status == expected, error
        result = run("keys", *args, ok=False)
        assert result.exit_code == 2
        assert result.output == f"error: {error['message']}\n"


def _create_in_security_center(api: Api, owner: Bearer) -> str:
    key_id: str = api.gql(CREATE, {"input": _new_key()}, as_=owner)["createApiKey"]["apiKey"]["id"]
    return key_id
