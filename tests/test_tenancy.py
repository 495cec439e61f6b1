"""Another organization's or environment's object is a 404 on every path, for every resource."""

import pytest

from tests.factories import Api, Credential
from tests.resources import RESOURCES, ResourceCase

ids = [r.name for r in RESOURCES]


def _create(api: Api, case: ResourceCase, cred: Credential) -> str:
    data = api.gql(case.create, {"input": case.create_input()}, as_=cred)
    public_id: str = data[case.first_key(case.create)]["id"]
    assert public_id.startswith(case.prefix)
    return public_id


def _assert_invisible(api: Api, case: ResourceCase, public_id: str, outsider: Credential) -> None:
    status, error = api.error(case.get, {"id": public_id}, as_=outsider)
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    listed = api.gql(case.list, as_=outsider)
    nodes = next(iter(listed.values()))["nodes"]
    assert public_id not in {n["id"] for n in nodes}
    status, error = api.error(
        case.update, {"id": public_id, "input": case.update_input()}, as_=outsider
    )
    assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
    if case.delete is not None:
        status, error = api.error(case.delete, {"id": public_id}, as_=outsider)
        assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize("case", RESOURCES, ids=ids)
def test_other_organization_sees_a_404(api: Api, case: ResourceCase) -> None:
    owner = api.key()
    public_id = _create(api, case, owner)
    _assert_invisible(api, case, public_id, api.key())
    # ...and nothing the outsider tried changed the owner's object.
    api.gql(case.get, {"id": public_id}, as_=owner)


@pytest.mark.parametrize("case", RESOURCES, ids=ids)
def test_test_key_never_sees_live_data_and_the_reverse(api: Api, case: ResourceCase) -> None:
    org = api.org()
    live = api.key(org=org, environment="live")
    test = api.key(org=org, environment="test")
    live_id = _create(api, case, live)
    test_id = _create(api, case, test)
    _assert_invisible(api, case, live_id, test)
    _assert_invisible(api, case, test_id, live)
    api.gql(case.get, {"id": live_id}, as_=live)
    api.gql(case.get, {"id": test_id}, as_=test)


@pytest.mark.parametrize("case", RESOURCES, ids=ids)
def test_malformed_and_foreign_prefixed_ids_are_404(api: Api, case: ResourceCase) -> None:
    cred = api.key()
    for bad in ["", "nope", "org_" + "A" * 22, case.prefix + "%' OR 1=1 --"]:
        status, error = api.error(case.get, {"id": bad}, as_=cred)
        assert (status, error["extensions"]["code"]) == (404, "NOT_FOUND")
