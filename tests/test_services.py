"""Services through HTTP on both backends: catalog reads, PATCH writes, money rules, audit."""

from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from asteri.models import AuditEntry, Event, Organization, Service
from asteri.resolvers.money import MAX_PRICE
from asteri.schema.scalars import MAX_SAFE_INT
from tests.factories import CREATE_SERVICE, Api, Credential, create_service

FIELDS = (
    "id name description unitPrice { amount currency } durationMinutes taxable bookableOnline "
    "active createdAt updatedAt"
)
GET = f"query($id: ID!) {{ service(id: $id) {{ {FIELDS} }} }}"
LIST = """
query($first: Int!, $after: String, $filter: ServiceFilter, $orderBy: ServiceOrder!) {
  services(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    nodes { id name unitPrice { amount currency } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CREATE = f"""
mutation($input: CreateServiceInput!) {{ createService(input: $input) {{ {FIELDS} }} }}"""
UPDATE = f"""
mutation($id: ID!, $input: UpdateServiceInput!) {{
  updateService(id: $id, input: $input) {{ {FIELDS} }}
}}"""
DELETE = "mutation($id: ID!) { deleteService(id: $id) { id deleted } }"
ORDERS = ["CREATED_AT_DESC", "CREATED_AT_ASC", "UPDATED_AT_DESC", "NAME_ASC"]
CREATED_FIELDS = ("active", "bookable_online", "duration_minutes", "name", "taxable", "unit_price")


def _price(amount: int, currency: str = "USD") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _list(
    api: Api,
    *,
    as_: Credential,
    filter: dict[str, Any] | None = None,
    order: str = "CREATED_AT_DESC",
    first: int = 100,
    after: str | None = None,
) -> dict[str, Any]:
    variables = {"first": first, "after": after, "filter": filter, "orderBy": order}
    connection: dict[str, Any] = api.gql(LIST, variables, as_=as_)["services"]
    return connection


def _names(api: Api, *, as_: Credential, **kwargs: Any) -> list[str]:
    return [n["name"] for n in _list(api, as_=as_, **kwargs)["nodes"]]


def _update(api: Api, *, as_: Credential, id: str, **input_: Any) -> dict[str, Any]:
    service: dict[str, Any] = api.gql(UPDATE, {"id": id, "input": input_}, as_=as_)["updateService"]
    return service


def _org_pk(api: Api, *, org: str) -> int:
    with Session(api.engine) as session:
        pk = session.scalar(select(Organization.id).where(col(Organization.public_id) == org))
    assert pk is not None
    return pk


def _counts(api: Api, *, org: str) -> tuple[int, int]:
    """Audit entries and events of one organization, read beside the app's own transactions."""
    pk = _org_pk(api, org=org)
    with Session(api.engine) as session:
        audits = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(col(AuditEntry.organization_id) == pk)
        )
        events = session.scalar(
            select(func.count()).select_from(Event).where(col(Event.organization_id) == pk)
        )
    return int(audits or 0), int(events or 0)


def _history(api: Api, *, id: str) -> list[tuple[str, list[str], dict[str, Any]]]:
    """(action, changed fields, event payload) per write, oldest first."""
    with Session(api.engine) as session:
        audits = session.scalars(
            select(AuditEntry).where(col(AuditEntry.resource_id) == id).order_by(col(AuditEntry.id))
        ).all()
        events = session.scalars(
            select(Event).where(col(Event.resource_id) == id).order_by(col(Event.id))
        ).all()
    assert [a.action for a in audits] == [e.type for e in events]
    return [
        (a.action, list(a.changed_fields), e.payload) for a, e in zip(audits, events, strict=True)
    ]


def _invalid(
    api: Api, document: str, variables: dict[str, Any], *, as_: Credential
) -> tuple[str, set[str]]:
    """A write that must fail with 422: its code and the JSON pointers it names."""
    before = _counts(api, org=as_.organization_id)
    status, error = api.error(document, variables, as_=as_)
    assert status == 422, error
    assert _counts(api, org=as_.organization_id) == before, "a failed write left audit/events"
    return error["extensions"]["code"], {e["pointer"] for e in error["extensions"]["errors"]}


def test_create_applies_defaults_and_get_returns_the_same(api: Api) -> None:
    cred = api.key()
    minimal = {"name": "  AC tune-up  ", "unitPrice": _price(12900), "durationMinutes": 60}
    created = api.gql(CREATE_SERVICE, {"input": minimal}, as_=cred)["createService"]
    assert created["id"].startswith("svc_")
    assert created["name"] == "AC tune-up"
    assert created["unitPrice"] == _price(12900)
    assert (created["description"], created["taxable"], created["bookableOnline"]) == (
        None,
        True,
        False,
    )
    assert created["active"] is True
    assert created["createdAt"] == created["updatedAt"]
    assert api.gql(GET, {"id": created["id"]}, as_=cred)["service"] == created
    ((action, fields, payload),) = _history(api, id=created["id"])
    assert action == "service.created"
    assert fields == list(CREATED_FIELDS)
    assert payload["unit_price"] == {"amount": 12900, "currency": "USD"}


def test_create_with_every_field(api: Api) -> None:
    cred = api.key()
    input_ = {
        "name": "Water heater installation",
        "description": "Tank or tankless; haul-away included.",
        "unitPrice": _price(145000, "EUR"),
        "durationMinutes": 1440,
        "taxable": False,
        "bookableOnline": True,
        "active": False,
    }
    created = api.gql(CREATE, {"input": input_}, as_=cred)["createService"]
    assert {k: created[k] for k in input_} == input_
    assert api.gql(GET, {"id": created["id"]}, as_=cred)["service"] == created


def _catalog(api: Api, *, as_: Credential) -> None:
    # Every field a filter reads is given, so the sample's own values play no part.
    for name, description, bookable, active in [
        ("AC tune-up", "Coils and FILTERS", True, True),
        ("Furnace repair", "100% satisfaction", False, False),
        ("Duct_cleaning", None, False, True),
        ("Ductless mini-split", "Clean filters", True, True),
    ]:
        create_service(
            api,
            as_=as_,
            name=name,
            description=description,
            bookableOnline=bookable,
            active=active,
        )


ALL = {"AC tune-up", "Furnace repair", "Duct_cleaning", "Ductless mini-split"}


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (None, ALL),
        ({"active": None}, ALL),
        ({"active": True}, ALL - {"Furnace repair"}),
        ({"active": False}, {"Furnace repair"}),
        ({"bookableOnline": True}, {"AC tune-up", "Ductless mini-split"}),
        ({"bookableOnline": False}, {"Furnace repair", "Duct_cleaning"}),
        ({"active": True, "bookableOnline": False}, {"Duct_cleaning"}),
        ({"search": "TUNE"}, {"AC tune-up"}),
        ({"search": "filters"}, {"AC tune-up", "Ductless mini-split"}),
        ({"search": "clean filters"}, {"Ductless mini-split"}),
        ({"search": "%"}, {"Furnace repair"}),
        ({"search": "duct_"}, {"Duct_cleaning"}),
        ({"search": "nothing-like-this"}, set()),
    ],
)
def test_filters(api: Api, filter: dict[str, Any] | None, expected: set[str]) -> None:
    cred = api.key()
    _catalog(api, as_=cred)
    names = _names(api, as_=cred, filter=filter)
    assert len(names) == len(set(names))
    assert set(names) == expected


def test_updated_since_returns_only_later_changes(api: Api) -> None:
    cred = api.key()
    first = create_service(api, as_=cred, name="First")
    create_service(api, as_=cred, name="Second")
    changed = _update(api, as_=cred, id=first["id"], durationMinutes=45)
    assert _names(api, as_=cred, filter={"updatedSince": changed["updatedAt"]}) == ["First"]
    code, pointers = _invalid(
        api,
        LIST,
        {"first": 10, "filter": {"updatedSince": "2026-01-01T00:00:00"}, "orderBy": "NAME_ASC"},
        as_=cred,
    )
    assert (code, pointers) == ("BAD_USER_INPUT", {"/filter/updatedSince"})


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("CREATED_AT_DESC", ["Charlie", "Alpha", "Bravo"]),
        ("CREATED_AT_ASC", ["Bravo", "Alpha", "Charlie"]),
        ("UPDATED_AT_DESC", ["Alpha", "Charlie", "Bravo"]),
        ("NAME_ASC", ["Alpha", "Bravo", "Charlie"]),
    ],
)
def test_orderings(api: Api, order: str, expected: list[str]) -> None:
    cred = api.key()
    ids = {
        name: create_service(api, as_=cred, name=name)["id"]
        for name in ["Bravo", "Alpha", "Charlie"]
    }
    _update(api, as_=cred, id=ids["Alpha"], taxable=False)
    assert _names(api, as_=cred, order=order) == expected


def test_default_order_is_newest_first(api: Api) -> None:
    cred = api.key()
    for name in ["Old", "Middle", "New"]:
        create_service(api, as_=cred, name=name)
    data = api.gql("query { services { nodes { name } } }", as_=cred)
    assert [n["name"] for n in data["services"]["nodes"]] == ["New", "Middle", "Old"]


@pytest.mark.parametrize("order", ORDERS)
def test_cursor_pages_cover_every_service_once(api: Api, order: str) -> None:
    cred = api.key()
    # Equal names force the public-id tie-break on NAME_ASC.
    names = ["Same", "Zeta", "Same", "Alpha", "Same", "Mid", "Beta"]
    ids = [create_service(api, as_=cred, name=n)["id"] for n in names]
    whole = [n["id"] for n in _list(api, as_=cred, order=order)["nodes"]]
    walked: list[str] = []
    after = None
    pages = 0
    while True:
        page = _list(api, as_=cred, order=order, first=3, after=after)
        walked += [n["id"] for n in page["nodes"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert walked == whole
    assert sorted(walked) == sorted(ids)


def test_a_cursor_from_another_ordering_is_refused(api: Api) -> None:
    cred = api.key()
    for _ in range(2):
        create_service(api, as_=cred)
    cursor = _list(api, as_=cred, order="NAME_ASC", first=1)["pageInfo"]["endCursor"]
    variables = {"first": 1, "after": cursor, "orderBy": "CREATED_AT_DESC"}
    status, error = api.error(LIST, variables, as_=cred)
    assert (status, error["extensions"]["code"]) == (400, "BAD_REQUEST")


def test_patch_leaves_absent_fields_and_null_clears_description(api: Api) -> None:
    cred = api.key()
    created = create_service(api, as_=cred, description="Old text", bookableOnline=True)
    renamed = _update(api, as_=cred, id=created["id"], name="Renamed")
    untouched = {k: v for k, v in created.items() if k not in ("name", "updatedAt")}
    assert renamed["name"] == "Renamed"
    assert {k: v for k, v in renamed.items() if k not in ("name", "updatedAt")} == untouched
    cleared = _update(api, as_=cred, id=created["id"], description=None)
    assert cleared["description"] is None
    assert api.gql(GET, {"id": created["id"]}, as_=cred)["service"] == cleared
    assert [(a, f) for a, f, _ in _history(api, id=created["id"])][1:] == [
        ("service.updated", ["name"]),
        ("service.updated", ["description"]),
    ]


@pytest.mark.parametrize(
    "field", ["name", "unitPrice", "durationMinutes", "taxable", "bookableOnline", "active"]
)
def test_null_on_a_required_field_is_refused(api: Api, field: str) -> None:
    cred = api.key()
    created = create_service(api, as_=cred)
    code, pointers = _invalid(api, UPDATE, {"id": created["id"], "input": {field: None}}, as_=cred)
    assert (code, pointers) == ("BAD_USER_INPUT", {f"/input/{field}"})
    assert api.gql(GET, {"id": created["id"]}, as_=cred)["service"] == created


def test_price_change_is_audited_as_unit_price(api: Api) -> None:
    cred = api.key()
    created = create_service(api, as_=cred, unitPrice=_price(12900, "USD"))
    updated = _update(api, as_=cred, id=created["id"], unitPrice=_price(12900, "CAD"))
    assert updated["unitPrice"] == _price(12900, "CAD")
    _update(api, as_=cred, id=created["id"], unitPrice=_price(12900, "CAD"))  # no change, no event
    history = _history(api, id=created["id"])
    assert [(a, f) for a, f, _ in history] == [
        # Create inputs carry their boolean defaults in the SDL, so all fields count as sent
        # (and the sample sends a description).
        ("service.created", sorted([*CREATED_FIELDS, "description"])),
        ("service.updated", ["unit_price"]),
    ]
    assert history[-1][2]["unit_price"] == {"amount": 12900, "currency": "CAD"}


@pytest.mark.parametrize(
    ("price", "pointer"),
    [
        (_price(-1), "/input/unitPrice/amount"),
        (_price(MAX_PRICE + 1), "/input/unitPrice/amount"),
        (_price(100, "ZZZ"), "/input/unitPrice/currency"),
        (_price(100, "usd"), "/input/unitPrice/currency"),
        (_price(100, "US"), "/input/unitPrice/currency"),
        (_price(100, "XAU"), "/input/unitPrice/currency"),
    ],
)
def test_invalid_money_is_refused(api: Api, price: dict[str, Any], pointer: str) -> None:
    cred = api.key()
    input_ = {"name": "Priced", "unitPrice": price, "durationMinutes": 30}
    assert _invalid(api, CREATE, {"input": input_}, as_=cred) == ("BAD_USER_INPUT", {pointer})
    assert _list(api, as_=cred)["nodes"] == []


def test_invalid_update_names_every_bad_field_and_changes_nothing(api: Api) -> None:
    cred = api.key()
    created = create_service(api, as_=cred)
    input_ = {"unitPrice": _price(-5, "usd"), "durationMinutes": 0, "name": "Fine"}
    code, pointers = _invalid(api, UPDATE, {"id": created["id"], "input": input_}, as_=cred)
    assert code == "BAD_USER_INPUT"
    assert pointers == {
        "/input/unitPrice/amount",
        "/input/unitPrice/currency",
        "/input/durationMinutes",
    }
    assert api.gql(GET, {"id": created["id"]}, as_=cred)["service"] == created


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"name": ""}, "/input/name"),
        ({"name": "   "}, "/input/name"),
        ({"name": "x" * 201}, "/input/name"),
        ({"description": "x" * 5001}, "/input/description"),
        ({"durationMinutes": 0}, "/input/durationMinutes"),
        ({"durationMinutes": 1441}, "/input/durationMinutes"),
    ],
)
def test_invalid_fields_are_refused(api: Api, fields: dict[str, Any], pointer: str) -> None:
    cred = api.key()
    input_ = {"name": "Valid", "unitPrice": _price(100), "durationMinutes": 30, **fields}
    assert _invalid(api, CREATE, {"input": input_}, as_=cred) == ("BAD_USER_INPUT", {pointer})


@pytest.mark.parametrize("amount", [MAX_SAFE_INT + 1, 1.5, "12900", True])
def test_amounts_that_are_not_safe_integers_fail_graphql_validation(
    api: Api, amount: object
) -> None:
    cred = api.key()
    input_ = {
        "name": "Odd",
        "unitPrice": {"amount": amount, "currency": "USD"},
        "durationMinutes": 5,
    }
    before = _counts(api, org=cred.organization_id)
    status, error = api.error(CREATE, {"input": input_}, as_=cred)
    assert (status, error["extensions"]["code"]) == (400, "GRAPHQL_VALIDATION_FAILED")
    assert "unitPrice.amount" in error["message"]
    assert _counts(api, org=cred.organization_id) == before


@pytest.mark.parametrize("amount", [0, 2**31, 987_654_321_987, MAX_PRICE])
def test_large_amounts_round_trip_exactly(api: Api, amount: int) -> None:
    cred = api.key()
    created = create_service(api, as_=cred, unitPrice=_price(amount, "JPY"))
    assert created["unitPrice"] == _price(amount, "JPY")
    assert api.gql(GET, {"id": created["id"]}, as_=cred)["service"]["unitPrice"]["amount"] == amount
    assert _list(api, as_=cred)["nodes"][0]["unitPrice"]["amount"] == amount
    with Session(api.engine) as session:
        stored = session.scalar(
            select(Service.unit_price_amount).where(col(Service.public_id) == created["id"])
        )
    assert stored == amount
    assert _history(api, id=created["id"])[0][2]["unit_price"]["amount"] == amount


def test_an_amount_literal_in_the_document_is_parsed_exactly(api: Api) -> None:
    cred = api.key()
    document = f"""mutation {{ createService(input: {{name: "Literal", durationMinutes: 10,
      unitPrice: {{amount: {MAX_PRICE}, currency: "USD"}}}}) {{ unitPrice {{ amount }} }} }}"""
    assert api.gql(document, as_=cred)["createService"]["unitPrice"]["amount"] == MAX_PRICE


def test_deleted_service_is_gone_from_every_read(api: Api) -> None:
    cred = api.key()
    kept = create_service(api, as_=cred, name="Kept")
    doomed = create_service(api, as_=cred, name="Doomed", active=False)
    result = api.gql(DELETE, {"id": doomed["id"]}, as_=cred)["deleteService"]
    assert result == {"id": doomed["id"], "deleted": True}
    status, error = api.error(GET, {"id": doomed["id"]}, as_=cred)
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    assert [n["id"] for n in _list(api, as_=cred, filter={"active": None})["nodes"]] == [kept["id"]]
    assert _names(api, as_=cred, filter={"search": "doomed"}) == []
    before = _counts(api, org=cred.organization_id)
    for document, variables in [
        (DELETE, {"id": doomed["id"]}),
        (UPDATE, {"id": doomed["id"], "input": {"name": "Back"}}),
    ]:
        status, error = api.error(document, variables, as_=cred)
        assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    assert _counts(api, org=cred.organization_id) == before
    assert [a for a, _, _ in _history(api, id=doomed["id"])] == [
        "service.created",
        "service.deleted",
    ]


def test_failed_writes_write_no_audit_or_event_rows(api: Api) -> None:
    cred = api.key()
    mine = create_service(api, as_=cred)
    theirs = create_service(api, as_=api.key())
    reader = api.key(org=cred.organization_id, scopes=["read:services"])
    before = _counts(api, org=cred.organization_id)
    attempts: list[tuple[str, dict[str, Any], Credential, int]] = [
        (UPDATE, {"id": theirs["id"], "input": {"name": "Mine now"}}, cred, 404),
        (DELETE, {"id": theirs["id"]}, cred, 404),
        (UPDATE, {"id": "svc_doesnotexist", "input": {"name": "Ghost"}}, cred, 404),
        (UPDATE, {"id": mine["id"], "input": {"name": "No scope"}}, reader, 403),
        (DELETE, {"id": mine["id"]}, reader, 403),
        (UPDATE, {"id": mine["id"], "input": {"unitPrice": _price(1, "ZZZ")}}, cred, 422),
    ]
    for document, variables, as_, expected in attempts:
        status, _ = api.error(document, variables, as_=as_)
        assert status == expected, (document, variables)
    assert _counts(api, org=cred.organization_id) == before
    assert api.gql(GET, {"id": mine["id"]}, as_=cred)["service"] == mine


def test_another_organizations_services_are_invisible(api: Api) -> None:
    cred, other = api.key(), api.key()
    service = create_service(api, as_=cred)
    status, error = api.error(GET, {"id": service["id"]}, as_=other)
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    assert _list(api, as_=other)["nodes"] == []
    assert [n["id"] for n in _list(api, as_=cred)["nodes"]] == [service["id"]]
