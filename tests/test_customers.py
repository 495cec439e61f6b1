"""Customers through GraphQL over HTTP: fields, filters, cursors, PATCH semantics, lifecycle."""

from typing import Any

import pytest

from tests.factories import Api, Credential, create_customer

GET = """query($id: ID!) { customer(id: $id) {
  id displayName givenName familyName company tags notes archived archivedAt
  emails { address label primary } phones { number label primary }
  addresses { line1 city country postalCode primary }
  activity { action changedFields actorId requestId }
} }"""
LIST = """query($first: Int!, $after: String, $filter: CustomerFilter, $order: CustomerOrder!) {
  customers(first: $first, after: $after, filter: $filter, orderBy: $order) {
    nodes { id displayName tags } pageInfo { hasNextPage endCursor }
  }
}"""
UPDATE = """mutation($id: ID!, $input: UpdateCustomerInput!) {
  updateCustomer(id: $id, input: $input) { id displayName company notes tags emails { address } }
}"""


def _get(api: Api, cred: Credential, public_id: str) -> dict[str, Any]:
    customer: dict[str, Any] = api.gql(GET, {"id": public_id}, as_=cred)["customer"]
    return customer


def _list(api: Api, cred: Credential, **variables: Any) -> dict[str, Any]:
    variables = {"first": 100, "order": "CREATED_AT_DESC", **variables}
    page: dict[str, Any] = api.gql(LIST, variables, as_=cred)["customers"]
    return page


def test_create_normalises_contact_points_and_tags(api: Api) -> None:
    cred = api.key()
    created = create_customer(
        api,
        cred,
        displayName="  Rivera Family ",
        givenName="Ana",
        emails=[{"address": "ana@example.com", "label": "home"}, {"address": "a2@example.com"}],
        phones=[{"number": "+1 512 555 0101"}],
        addresses=[
            {"line1": "1 Main St", "city": "Austin", "country": "us", "postalCode": "78704"}
        ],
        tags=["VIP", " residential", "vip"],
        notes="Gate code 4410",
    )
    assert created["displayName"] == "Rivera Family"
    assert [e["primary"] for e in created["emails"]] == [True, False]
    assert created["phones"][0]["primary"] is True
    assert created["addresses"][0]["country"] == "US"
    assert created["tags"] == ["residential", "vip"]
    assert created["archived"] is False
    assert created["createdAt"].endswith("+00:00")


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"displayName": ""}, "/input/displayName"),
        ({"displayName": "x" * 201}, "/input/displayName"),
        ({"emails": [{"address": "not-an-email"}]}, "/input/emails/0/address"),
        ({"phones": [{"number": "call me"}]}, "/input/phones/0/number"),
        ({"addresses": [{"line1": "1 Main", "country": "USA"}]}, "/input/addresses/0/country"),
        ({"tags": ["has space"]}, "/input/tags/0"),
        (
            {
                "emails": [
                    {"address": "a@example.com", "primary": True},
                    {"address": "b@example.com", "primary": True},
                ]
            },
            "/input",
        ),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(
    api: Api, fields: dict[str, Any], pointer: str
) -> None:
    cred = api.key()
    variables = {"input": {"displayName": "Valid", **fields}}
    status, error = api.error(
        "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
        variables,
        as_=cred,
    )
    assert status == 422
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert pointer in [e["pointer"] for e in error["extensions"]["errors"]]
    assert _list(api, cred)["nodes"] == []


def test_update_is_a_patch_absent_untouched_null_clears(api: Api) -> None:
    cred = api.key()
    created = create_customer(
        api, cred, company="Acme", notes="n1", tags=["a"], emails=[{"address": "x@example.com"}]
    )
    updated = api.gql(
        UPDATE, {"id": created["id"], "input": {"notes": None, "tags": ["b"]}}, as_=cred
    )["updateCustomer"]
    assert updated["company"] == "Acme"
    assert updated["notes"] is None
    assert updated["tags"] == ["b"]
    assert updated["emails"] == [{"address": "x@example.com"}]
    cleared = api.gql(UPDATE, {"id": created["id"], "input": {"emails": None}}, as_=cred)[
        "updateCustomer"
    ]
    assert cleared["emails"] == []
    status, error = api.error(
        UPDATE, {"id": created["id"], "input": {"displayName": None}}, as_=cred
    )
    assert status == 422
    assert error["extensions"]["errors"][0]["pointer"] == "/input/displayName"
    assert _get(api, cred, created["id"])["displayName"] == created["displayName"]


def test_tag_search_and_updated_since_filters(api: Api) -> None:
    cred = api.key()
    a = create_customer(
        api,
        cred,
        displayName="Zed Plumbing",
        tags=["commercial"],
        emails=[{"address": "ops@zed.example"}],
    )
    b = create_customer(api, cred, displayName="Yara 100% Pure", tags=["residential"])
    assert [n["id"] for n in _list(api, cred, filter={"tag": "COMMERCIAL"})["nodes"]] == [a["id"]]
    assert [n["id"] for n in _list(api, cred, filter={"search": "zed.example"})["nodes"]] == [
        a["id"]
    ]
    assert [n["id"] for n in _list(api, cred, filter={"search": "100%"})["nodes"]] == [b["id"]]
    assert _list(api, cred, filter={"search": "_"})["nodes"] == []
    api.gql(UPDATE, {"id": a["id"], "input": {"notes": "touched"}}, as_=cred)
    touched = _get(api, cred, a["id"])
    since = api.gql(
        GET.replace("activity { action changedFields actorId requestId }", "updatedAt"),
        {"id": a["id"]},
        as_=cred,
    )
    recent = _list(api, cred, filter={"updatedSince": since["customer"]["updatedAt"]})["nodes"]
    assert [n["id"] for n in recent] == [touched["id"]]


def test_cursor_pagination_walks_every_row_once_in_each_order(api: Api) -> None:
    cred = api.key()
    made = {create_customer(api, cred, displayName=f"C{i:02d}")["id"] for i in range(7)}
    for order in ["CREATED_AT_DESC", "CREATED_AT_ASC", "UPDATED_AT_DESC", "DISPLAY_NAME_ASC"]:
        seen: list[str] = []
        after = None
        while True:
            page = _list(api, cred, first=3, after=after, order=order)
            seen += [n["id"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) == 7
        assert set(seen) == made
    names = [n["displayName"] for n in _list(api, cred, order="DISPLAY_NAME_ASC")["nodes"]]
    assert names == sorted(names)


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ", "!!!", "e30"])
def test_bad_cursor_is_a_400(api: Api, cursor: str) -> None:
    cred = api.key()
    status, error = api.error(
        LIST, {"first": 5, "after": cursor, "order": "CREATED_AT_DESC"}, as_=cred
    )
    assert (status, error["extensions"]["code"]) == (400, "BAD_REQUEST")


def test_cursor_from_another_ordering_is_a_400(api: Api) -> None:
    cred = api.key()
    for _ in range(2):
        create_customer(api, cred)
    cursor = _list(api, cred, first=1)["pageInfo"]["endCursor"]
    status, error = api.error(
        LIST, {"first": 1, "after": cursor, "order": "DISPLAY_NAME_ASC"}, as_=cred
    )
    assert (status, error["extensions"]["code"]) == (400, "BAD_REQUEST")


@pytest.mark.parametrize("first", [0, -1, 101])
def test_page_size_out_of_range_is_a_422(api: Api, first: int) -> None:
    cred = api.key()
    status, error = api.error(LIST, {"first": first, "order": "CREATED_AT_DESC"}, as_=cred)
    assert (status, error["extensions"]["code"]) == (422, "BAD_USER_INPUT")


def test_archive_hides_by_default_and_unarchive_restores(api: Api) -> None:
    cred = api.key()
    c = create_customer(api, cred)
    archived = api.gql(
        "mutation($id: ID!) { archiveCustomer(id: $id) { archived archivedAt } }",
        {"id": c["id"]},
        as_=cred,
    )
    assert archived["archiveCustomer"]["archived"] is True
    assert _list(api, cred)["nodes"] == []
    assert [n["id"] for n in _list(api, cred, filter={"archived": True})["nodes"]] == [c["id"]]
    assert [n["id"] for n in _list(api, cred, filter={"archived": None})["nodes"]] == [c["id"]]
    api.gql(
        "mutation($id: ID!) { unarchiveCustomer(id: $id) { archived } }", {"id": c["id"]}, as_=cred
    )
    assert [n["id"] for n in _list(api, cred)["nodes"]] == [c["id"]]
    actions = [a["action"] for a in _get(api, cred, c["id"])["activity"]]
    assert actions == ["customer.unarchived", "customer.archived", "customer.created"]


def test_delete_makes_it_404_and_keeps_history_out_of_reach(api: Api) -> None:
    cred = api.key()
    c = create_customer(api, cred)
    data = api.gql(
        "mutation($id: ID!) { deleteCustomer(id: $id) { id deleted } }", {"id": c["id"]}, as_=cred
    )
    assert data["deleteCustomer"] == {"id": c["id"], "deleted": True}
    status, error = api.error(GET, {"id": c["id"]}, as_=cred)
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    status, _ = api.error(
        "mutation($id: ID!) { deleteCustomer(id: $id) { id } }", {"id": c["id"]}, as_=cred
    )
    assert status == 404


def test_activity_history_reads_the_audit_trail(api: Api) -> None:
    cred = api.key()
    c = create_customer(api, cred)
    api.client.post(
        "/api/public/v1/graphql",
        json={
            "query": UPDATE,
            "variables": {"id": c["id"], "input": {"company": "Acme", "tags": ["x"]}},
        },
        headers={**cred.headers(), "x-request-id": "req-activity-1"},
    )
    activity = _get(api, cred, c["id"])["activity"]
    assert activity[0] == {
        "action": "customer.updated",
        "changedFields": ["company", "tags"],
        "actorId": cred.key_id,
        "requestId": "req-activity-1",
    }
    assert activity[1]["action"] == "customer.created"


def test_naive_updated_since_is_a_422(api: Api) -> None:
    cred = api.key()
    status, error = api.error(
        LIST,
        {"first": 5, "order": "CREATED_AT_DESC", "filter": {"updatedSince": "2026-01-01T00:00:00"}},
        as_=cred,
    )
    assert (status, error["extensions"]["code"]) == (422, "BAD_USER_INPUT")
    assert error["extensions"]["errors"][0]["pointer"] == "/filter/updatedSince"
