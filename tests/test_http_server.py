"""The real server: uvicorn on a loopback port, spoken to over TCP."""

from collections.abc import Iterator

import httpx2 as httpx
import pytest

from asteri.app import create_app
from asteri.kit.settings import Settings
from tests.factories import Api
from tests.servers import serving


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def test_graphql_over_real_http(base_url: str, api: Api) -> None:
    cred = api.key()
    with httpx.Client(base_url=base_url) as http:
        created = http.post(
            "/api/public/v1/graphql",
            headers=cred.headers(),
            json={"query": 'mutation { createCustomer(input: {displayName: "Over TCP"}) { id } }'},
        )
        assert created.status_code == 200, created.text
        listed = http.post(
            "/api/public/v1/graphql",
            headers=cred.headers(),
            json={"query": "{ customers(first: 5) { nodes { id displayName } } }"},
        )
    assert listed.json()["data"]["customers"]["nodes"] == [
        {"id": created.json()["data"]["createCustomer"]["id"], "displayName": "Over TCP"}
    ]
    assert listed.headers["x-request-id"].startswith("req_")


def test_graphiql_page_loads_without_a_key(base_url: str) -> None:
    response = httpx.get(f"{base_url}/api/public/v1/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_unauthenticated_call_over_http_is_401(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/api/public/v1/graphql",
        json={"query": "{ customers(first: 1) { nodes { id } } }"},
        headers={"x-organization-id": "org_x"},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
