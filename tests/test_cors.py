"""CORS: listed origins only, their preflights answered, our headers exposed to them."""

from collections.abc import Iterator

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from asteri.app import create_app
from asteri.http.cors import ALLOWED_HEADERS, EXPOSED_HEADERS
from asteri.kit.settings import Settings
from tests.factories import REST, Api

APP = "https://app.example"


@pytest.fixture
def browser(settings: Settings, engine: Engine) -> Iterator[Api]:
    listed = settings.model_copy(update={"cors_origins": f"{APP}, https://other.example/"})
    with TestClient(create_app(listed), raise_server_exceptions=False) as client:
        yield Api(client=client, engine=engine, settings=listed)


def _preflight(api: Api, origin: str) -> httpx.Response:
    return api.client.options(
        f"{REST}/customers",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, x-organization-id, content-type",
        },
    )


def test_a_listed_origins_preflight_allows_our_methods_and_headers(browser: Api) -> None:
    response = _preflight(browser, APP)
    assert response.status_code == 204
    headers = response.headers
    assert headers["access-control-allow-origin"] == APP
    assert "POST" in headers["access-control-allow-methods"]
    assert set(headers["access-control-allow-headers"].split(", ")) == set(ALLOWED_HEADERS)
    assert "access-control-allow-credentials" not in headers
    assert headers["x-request-id"]


def test_a_listed_origin_sees_the_rate_limit_and_request_id(browser: Api) -> None:
    cred = browser.key()
    response = browser.client.get(
        f"{REST}/customers", headers={**cred.headers(), "origin": "https://other.example"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://other.example"
    exposed = set(response.headers["access-control-expose-headers"].split(", "))
    assert exposed == set(EXPOSED_HEADERS)
    assert {"ratelimit", "x-request-id"} <= exposed
    assert response.headers["vary"] == "Origin"


def test_any_other_origin_gets_no_cors_header(browser: Api, api: Api) -> None:
    cred = browser.key()
    refused = _preflight(browser, "https://evil.example")
    assert refused.status_code == 405
    served = browser.client.get(
        f"{REST}/customers", headers={**cred.headers(), "origin": "https://evil.example"}
    )
    unset = api.client.get(f"{REST}/customers", headers={**cred.headers(), "origin": APP})
    for response in (refused, served, unset):
        cors = [h for h in response.headers if h.startswith("access-control-")]
        assert cors == []
