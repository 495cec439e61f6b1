"""The HTML pages: their assets pinned with SRI, and a strict script policy on each."""

import base64
import hashlib
import re

import pytest

from tests.factories import REST, Api

PAGES = [
    f"{REST}/graphql",
    f"{REST}/docs",
    "/developers/problems",
    "/developers/problems/rate-limited",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_script_of_a_page_is_pinned_or_hashed_in_its_policy(api: Api, path: str) -> None:
    page = api.client.get(path, headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    html = page.text
    for tag in re.findall(r"<script[^>]*\bsrc=[^>]*>", html) + re.findall(
        r"<link[^>]*stylesheet[^>]*>", html, flags=re.DOTALL
    ):
        assert "integrity=" in tag, tag  # a CDN asset runs only if it is the pinned bytes
    for body in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]


@pytest.mark.parametrize("path", PAGES)
def test_head_of_a_page_has_its_policy_and_length(api: Api, path: str) -> None:
    get = api.client.get(path, headers={"accept": "text/html"})
    head = api.client.head(path, headers={"accept": "text/html"})
    assert head.content == b""
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]
    assert head.headers["content-length"] == get.headers["content-length"]


def test_json_answers_carry_no_page_policy(api: Api) -> None:
    response = api.rest("GET", "/customers", as_=api.key())
    assert "content-security-policy" not in response.headers
