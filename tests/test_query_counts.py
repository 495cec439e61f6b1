"""SQL statements per request, counted on the app's own database (reads and writes).

A list of 50 customers (each with two emails, a phone, an address and two tags) must take at
most 3 statements, credential lookup included, through REST and through GraphQL alike: no
N+1 on contact points or tags. A point read takes no more.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.factories import Api, Credential

LIST_BOUND = 3  # the bound for a list page, whatever its size
PAGE = 50

LIST_CUSTOMERS = """
query($first: Int!) {
  customers(first: $first) {
    nodes {
      id displayName givenName familyName company tags notes archived archivedAt
      createdAt updatedAt
      emails { address label primary } phones { number label primary }
      addresses { line1 line2 city region postalCode country label primary }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""


@contextmanager
def counting(api: Api) -> Iterator[list[str]]:
    """Every statement the app sends to its database while the block runs (both paths: the
    read pool and the write engine)."""
    statements: list[str] = []
    database = api.client.app.state.database  # type: ignore[attr-defined]
    with database.observing(statements.append):
        yield statements


def _customer(i: int) -> dict[str, Any]:
    return {
        "display_name": f"Customer {i:02d}",
        "emails": [
            {"address": f"c{i}@example.com", "label": "work", "primary": True},
            {"address": f"c{i}.home@example.com", "label": "home"},
        ],
        "phones": [{"number": f"+1 512 555 {i:04d}", "label": "mobile"}],
        "addresses": [{"line1": f"{i} Main St", "city": "Austin", "postal_code": "78704"}],
        "tags": ["vip", f"route-{i % 5}"],
    }


@pytest.fixture
def fifty(api: Api) -> Credential:
    """An organization with 50 fully populated customers."""
    cred = api.key()
    for i in range(PAGE):
        created = api.rest("POST", "/customers", as_=cred, json=_customer(i))
        assert created.status_code == 201, created.text
    return cred


def _report(label: str, statements: list[str]) -> str:
    return f"{label}: {len(statements)} statements\n" + "\n---\n".join(statements)


def test_rest_list_of_50_customers_takes_at_most_3_statements(api: Api, fifty: Credential) -> None:
    api.rest("GET", "/customers", as_=fifty, params={"limit": 1})  # warm: pool, caches
    with counting(api) as one:
        api.rest("GET", "/customers", as_=fifty, params={"limit": 1})
    with counting(api) as statements:
        page = api.rest("GET", "/customers", as_=fifty, params={"limit": PAGE})
    assert page.status_code == 200, page.text
    body = page.json()
    assert len(body["data"]) == PAGE
    assert all(len(c["emails"]) == 2 and len(c["tags"]) == 2 for c in body["data"])
    assert all(c["phones"] and c["addresses"] for c in body["data"])
    assert len(statements) <= LIST_BOUND, _report("REST list", statements)
    assert len(statements) == len(one), "statements grow with the page size: an N+1"
    print(f"\nREST list of {PAGE}: {len(statements)} SQL statements")


def test_graphql_list_of_50_customers_takes_at_most_3_statements(
    api: Api, fifty: Credential
) -> None:
    api.gql(LIST_CUSTOMERS, {"first": 1}, as_=fifty)
    with counting(api) as one:
        api.gql(LIST_CUSTOMERS, {"first": 1}, as_=fifty)
    with counting(api) as statements:
        data = api.gql(LIST_CUSTOMERS, {"first": PAGE}, as_=fifty)
    nodes = data["customers"]["nodes"]
    assert len(nodes) == PAGE
    assert all(len(c["emails"]) == 2 and len(c["tags"]) == 2 for c in nodes)
    assert len(statements) <= LIST_BOUND, _report("GraphQL list", statements)
    assert len(statements) == len(one), "statements grow with the page size: an N+1"
    print(f"\nGraphQL list of {PAGE}: {len(statements)} SQL statements")


def test_rest_point_read_takes_at_most_as_many_as_a_list(api: Api) -> None:
    cred = api.key()
    created = api.rest("POST", "/customers", as_=cred, json=_customer(1)).json()
    api.rest("GET", f"/customers/{created['id']}", as_=cred)
    with counting(api) as statements:
        read = api.rest("GET", f"/customers/{created['id']}", as_=cred)
    assert read.status_code == 200, read.text
    assert read.json()["emails"] == created["emails"]
    assert len(statements) <= LIST_BOUND, _report("REST point read", statements)
    print(f"\nREST point read: {len(statements)} SQL statements")


def test_activity_of_a_list_is_one_statement(api: Api, fifty: Credential) -> None:
    """Each customer's history in a list: batched, not one query per customer."""
    query = "query($first: Int!) { customers(first: $first) { nodes { id activity { action } } } }"
    api.gql(query, {"first": 2}, as_=fifty)
    with counting(api) as few:
        api.gql(query, {"first": 2}, as_=fifty)
    with counting(api) as many:
        data = api.gql(query, {"first": PAGE}, as_=fifty)
    nodes = data["customers"]["nodes"]
    assert len(nodes) == PAGE
    assert all([a["action"] for a in n["activity"]] == ["customer.created"] for n in nodes)
    assert len(many) == len(few) <= LIST_BOUND, _report("GraphQL list with activity", many)


def test_a_list_of_customers_with_their_documents_takes_one_statement_per_related_list(
    api: Api,
) -> None:
    """Each customer's estimates and invoices in a list: one batched statement for each
    related list, whatever the page size (no N+1)."""
    cred = api.key()
    line = {"description": "Visit", "unit_price": {"amount": 9900, "currency": "USD"}}
    for i in range(PAGE):
        customer = api.rest("POST", "/customers", as_=cred, json=_customer(i)).json()["id"]
        for path, extra in (("/estimates", {"valid_until": "2029-12-31"}), ("/invoices", {})):
            body = {"customer_id": customer, "currency": "USD", "line_items": [line], **extra}
            made = api.rest("POST", path, as_=cred, json=body)
            assert made.status_code == 201, made.text
    query = """query($first: Int!) { customers(first: $first) { nodes {
      id estimates { number total { amount } lineItems { description } }
      invoices { number amountDue { amount } }
    } } }"""
    api.gql(query, {"first": 2}, as_=cred)
    with counting(api) as few:
        api.gql(query, {"first": 2}, as_=cred)
    with counting(api) as many:
        data = api.gql(query, {"first": PAGE}, as_=cred)
    nodes = data["customers"]["nodes"]
    assert len(nodes) == PAGE
    for node in nodes:
        (estimate,) = node["estimates"]
        (invoice,) = node["invoices"]
        assert estimate["total"]["amount"] == invoice["amountDue"]["amount"] == 9900
        assert estimate["number"].startswith("EST-")
        assert invoice["number"].startswith("INV-")
    with counting(api) as alone:
        api.gql(
            "query($first: Int!) { customers(first: $first) { nodes { id } } }",
            {"first": PAGE},
            as_=cred,
        )
    # The list's own statements, and one more for each related list.
    assert len(many) == len(few) == len(alone) + 2 <= LIST_BOUND + 2, _report("documents", many)
    print(f"\nGraphQL list of 50 customers with estimates and invoices: {len(many)} statements")
