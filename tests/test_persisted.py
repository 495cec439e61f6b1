"""Persisted operations: validated at start-up, runnable by hash, and enforceable per key."""

from pathlib import Path
from typing import Any

import pytest

from asteri.schema import build_schema
from asteri.schema.build import limit_rules
from asteri.schema.persisted import Registry
from tests.factories import GRAPHQL, Api, create_customer, without_pacing

REGISTRY = build_schema().persisted


def _by_hash(
    api: Api, name: str, variables: dict[str, object], headers: dict[str, str]
) -> dict[str, Any]:
    op = REGISTRY.by_name[name]
    body = {
        "variables": variables,
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": op.sha256}},
    }
    response = api.client.post(GRAPHQL, json=body, headers=headers)
    return {"status": response.status_code, **response.json()}


def test_every_persisted_operation_declares_its_scopes() -> None:
    """One scope each; the viewer and the event catalogue need none (public on purpose), the
    security center roles instead of a scope."""
    for op in REGISTRY:
        if op.root_field in ("viewer", "eventTypes"):
            assert (op.scopes, op.roles) == ((), ())
        elif op.roles:
            assert (op.scopes, op.roles) == ((), ("owner", "admin")), op.name
        else:
            assert len(op.scopes) == 1, op.name


def test_a_persisted_operation_runs_by_hash(api: Api) -> None:
    cred = api.key()
    customer = create_customer(api, cred, displayName="By Hash")
    answer = _by_hash(api, "GetCustomer", {"id": customer["id"]}, cred.headers())
    assert answer["status"] == 200
    assert answer["data"]["customer"]["displayName"] == "By Hash"


def test_an_unknown_hash_is_a_400_problem(api: Api) -> None:
    cred = api.key()
    response = api.client.post(
        GRAPHQL,
        json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
        headers=cred.headers(),
    )
    assert response.status_code == 400
    assert response.json()["reason"] == "persisted_operation_not_found"


def test_persisted_only_key_refuses_free_form_documents(api: Api) -> None:
    cred = api.key(persisted_only=True)
    status, error = api.error("{ customers(first: 1) { nodes { id } } }", as_=cred)
    assert (status, error["extensions"]["code"], error["extensions"]["reason"]) == (
        403,
        "FORBIDDEN",
        "persisted_operations_only",
    )
    answer = _by_hash(api, "ListCustomers", {"first": 1}, cred.headers())
    assert answer["status"] == 200
    # The same text as a persisted operation is accepted too: it is the same document.
    assert (
        api.gql(REGISTRY.by_name["GetViewer"].source, as_=cred)["viewer"]["environment"] == "LIVE"
    )


def test_scopes_still_apply_to_persisted_operations(api: Api) -> None:
    cred = api.key(scopes=["read:services"])
    answer = _by_hash(api, "ListCustomers", {}, cred.headers())
    assert answer["status"] == 403
    assert answer["errors"][0]["extensions"]["required_scope"] == "read:customers"


def test_a_broken_document_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "broken.graphql").write_text("query Broken { customers { nodes { nope } } }")
    schema = build_schema()
    with pytest.raises(RuntimeError, match="Broken is invalid"):
        Registry.load(schema._schema, (), tmp_path)


def test_an_anonymous_document_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "anon.graphql").write_text("{ viewer { environment } }")
    with pytest.raises(RuntimeError, match="needs a name"):
        Registry.load(build_schema()._schema, (), tmp_path)


def test_depth_limits_apply_to_persisted_documents_too(tmp_path: Path) -> None:
    (tmp_path / "deep.graphql").write_text(
        "query Deep { customers { nodes { emails { address } } } }"
    )
    with pytest.raises(RuntimeError, match="Deep is invalid"):
        Registry.load(build_schema()._schema, limit_rules(max_depth=2, max_aliases=30), tmp_path)


@pytest.mark.parametrize(
    ("name", "variables"),
    [
        ("ListCustomers", {"first": 2}),
        ("ListCustomers", {"first": 5, "filter": {"tag": "vip"}, "orderBy": "DISPLAY_NAME_ASC"}),
        ("GetCustomer", {"id": "<id>"}),
        ("GetCustomer", {"id": "cus_missing"}),
        ("ListCustomers", {"after": "garbage"}),
        ("ListCustomers", {"first": "two"}),
        ("ListServices", {}),
        ("ListTeamMembers", {"filter": {"role": "OWNER"}}),
        ("GetViewer", {}),
    ],
)
def test_compiled_persisted_queries_answer_like_the_executor(
    api: Api, name: str, variables: dict[str, object]
) -> None:
    """The persisted text is answered by the compiled path; the same document with one extra
    space is not persisted, so graphql-core executes it: both answers must be identical."""
    op = REGISTRY.by_name[name]
    assert id(op.document) in build_schema().compiled_reads
    cred = api.key()
    customer = create_customer(
        api, cred, displayName="Zed", tags=["vip"], emails=[{"address": "z@example.com"}]
    )
    create_customer(api, cred, displayName="Amy")
    variables = {k: (customer["id"] if v == "<id>" else v) for k, v in variables.items()}
    compiled = api.post(op.source, variables, as_=cred)
    executed = api.post(" " + op.source, variables, as_=cred)
    assert compiled.status_code == executed.status_code
    compiled_body = without_pacing(compiled.json())
    executed_body = without_pacing(executed.json())
    for body in (compiled_body, executed_body):
        for error in body.get("errors", []):
            error.get("extensions", {}).pop("request_id", None)
            error.pop("locations", None)
    assert compiled_body == executed_body
