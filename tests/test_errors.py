"""Bad input gets a clear, coded error with the request id; never a 500 or a stack trace."""

import pytest
from graphql import parse, specified_rules
from strawberry.schema.schema import validate_document

from asteri.schema import build_schema
from asteri.schema.build import limit_rules
from tests.factories import GRAPHQL, Api


@pytest.mark.parametrize(
    "query",
    [
        "{ customers(first: 1) { nodes { id } ",  # syntax
        "{ customers(first: 1) { nodes { nope } } }",  # unknown field
        '{ customers(first: "ten") { nodes { id } } }',  # wrong literal type
    ],
)
def test_invalid_documents_are_400(api: Api, query: str) -> None:
    cred = api.key()
    status, error = api.error(query, as_=cred)
    assert status == 400
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Traceback" not in error["message"]


def test_wrong_variable_type_is_400(api: Api) -> None:
    cred = api.key()
    status, error = api.error(
        "query($n: Int!) { customers(first: $n) { nodes { id } } }", {"n": "many"}, as_=cred
    )
    assert (status, error["extensions"]["code"]) == (400, "GRAPHQL_VALIDATION_FAILED")


def test_depth_limit() -> None:
    """The schema's own documents are shallow, so prove the installed rule with a low limit."""
    rules = (*specified_rules, *limit_rules(max_depth=2, max_aliases=30))
    schema = build_schema()._schema
    assert validate_document(schema, parse("{ viewer { environment } }"), rules) == []
    errors = validate_document(
        schema, parse("{ customers { nodes { emails { address } } } }"), rules
    )
    assert "exceeds maximum operation depth" in errors[0].message


def test_alias_limit(api: Api) -> None:
    cred = api.key()
    many = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    status, error = api.error(many, as_=cred)
    assert status == 400
    assert "aliases" in error["message"].lower()


def test_malformed_json_body_is_a_problem_document(api: Api) -> None:
    response = api.client.post(
        GRAPHQL,
        content=b"{not json",
        headers={"content-type": "application/json", "x-request-id": "req-bad-json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "BAD_REQUEST"
    assert body["status"] == 400
    assert body["request_id"] == "req-bad-json"
    assert body["instance"] == GRAPHQL
    assert {"type", "title", "detail"} <= body.keys()


@pytest.mark.parametrize("body", [b"5", b'"{ __typename }"', b"null", b"true", b"1.5"])
@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "idempotency-key"])
def test_a_json_body_that_is_not_an_object_is_a_400(api: Api, body: bytes, keyed: bool) -> None:
    """Valid JSON, but not a request (an object) nor a batch (a list): a problem, not a 500,
    with or without an Idempotency-Key (which reads the body on its own path)."""
    headers = {"content-type": "application/json", **api.key().headers()}
    if keyed:
        headers["idempotency-key"] = "scalar-body"
    response = api.client.post(GRAPHQL, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "BAD_REQUEST"
    assert "JSON object" in response.json()["detail"]


def test_request_without_a_query_is_a_problem_document(api: Api) -> None:
    response = api.client.post(GRAPHQL, json={"variables": {}})
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"


def test_unknown_route_is_a_problem_document(api: Api) -> None:
    response = api.client.get("/api/public/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "NOT_FOUND"


def test_request_id_is_echoed_or_generated(api: Api) -> None:
    echoed = api.client.get("/api/public/v1/nothing", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = api.client.get(
        "/api/public/v1/nothing", headers={"x-request-id": "bad id\twith spaces"}
    )
    assert generated.headers["x-request-id"].startswith("req_")
    assert generated.json()["request_id"] == generated.headers["x-request-id"]


def test_partial_failure_keeps_data_and_status_200(api: Api) -> None:
    """One failing root field does not discard the others (GraphQL semantics)."""
    cred = api.key()
    response = api.post('{ viewer { environment } customer(id: "cus_missing") { id } }', as_=cred)
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["viewer"] == {"environment": "LIVE"}
    assert body["data"]["customer"] is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_unexpected_resolver_errors_are_masked_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """An exception that is not an ApiError never reaches the caller: no message, no trace."""
    from graphql import GraphQLError

    from asteri.schema.errors import log_incidents, shape_error

    try:
        raise RuntimeError("database password is hunter2")
    except RuntimeError as exc:
        error = GraphQLError(str(exc), path=["customers"], original_error=exc)
    shaped = shape_error(error, "req-incident")
    assert "hunter2" not in shaped.message
    assert shaped.extensions == {
        "code": "INTERNAL_SERVER_ERROR",
        "status": 500,
        "request_id": "req-incident",
    }
    with caplog.at_level("ERROR", logger="asteri.graphql"):
        log_incidents([error])
    assert caplog.records[0].exc_info is not None


def test_expected_errors_are_not_logged_as_incidents(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    cred = api.key(scopes=["read:team"])
    with caplog.at_level("ERROR", logger="asteri.graphql"):
        api.error('{ customer(id: "cus_x") { id } }', as_=cred)
        api.error('{ teamMember(id: "tm_x") { id } }', as_=cred)
    assert caplog.records == []
