"""HTTP semantics on every path: Allow, 415, no slash redirects, HEAD wherever GET."""

import pytest

from asteri.schema.operations import ROUTES
from tests.factories import REST, Api


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/customers/cus_x", "DELETE, GET, HEAD, PATCH"),
        ("DELETE", "/customers", "GET, HEAD, POST"),
        ("GET", "/customers/cus_x/archive", "POST"),
        ("POST", "/viewer", "GET, HEAD"),
        ("PUT", "/graphql", "GET, HEAD, POST"),
    ],
)
def test_a_405_allows_every_method_of_the_path(
    api: Api, method: str, path: str, allowed: str
) -> None:
    response = api.rest(method, path, as_=api.key())
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    assert allowed in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data", None]
)
def test_a_body_that_is_not_json_is_a_415(api: Api, content_type: str | None) -> None:
    cred = api.key()
    headers = {**cred.headers(), **({"content-type": content_type} if content_type else {})}
    response = api.client.post(f"{REST}/customers", content=b"display_name=x", headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert api.rest("GET", "/customers", as_=cred).json()["data"] == []  # nothing was written


def test_json_media_types_and_body_less_actions_pass(api: Api) -> None:
    cred = api.key()
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = api.client.post(
            f"{REST}/customers",
            content=b'{"display_name": "Json"}',
            headers={**cred.headers(), "content-type": content_type},
        )
        assert response.status_code == 201, (content_type, response.text)
    created = response.json()["id"]
    archived = api.client.post(f"{REST}/customers/{created}/archive", headers=cred.headers())
    assert archived.status_code == 200, archived.text


def test_a_trailing_slash_is_a_404_never_a_redirect(api: Api) -> None:
    response = api.client.get(
        f"{REST}/customers/", headers=api.key().headers(), follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_head_is_answered_wherever_get_is(api: Api) -> None:
    cred = api.key()
    customer = api.rest("POST", "/customers", as_=cred, json={"display_name": "Head"}).json()["id"]
    for route in [r for r in ROUTES if r.method == "GET"]:
        path = route.path.replace("{id}", customer if route.tag == "customers" else "x_missing")
        get = api.rest("GET", path, as_=cred)
        head = api.rest("HEAD", path, as_=cred)
        assert head.status_code == get.status_code, path
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
    page = api.client.head(f"{REST}/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.content == b""
    refused = api.client.head(f"{REST}/customers/cus_x/archive")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "POST"
    assert refused.content == b""  # a HEAD answer has no body, its problem included
