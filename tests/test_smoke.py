from tests.factories import Api, create_customer


def test_customer_round_trip(api: Api) -> None:
    cred = api.key()
    created = create_customer(api, cred, displayName="Ada Lovelace", tags=["VIP", "vip"])
    assert created["id"].startswith("cus_")
    assert created["tags"] == ["vip"]
    data = api.gql(
        "query($id: ID!) { customer(id: $id) { id displayName } }", {"id": created["id"]}, as_=cred
    )
    assert data["customer"] == {"id": created["id"], "displayName": "Ada Lovelace"}
