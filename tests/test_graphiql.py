"""GraphiQL with local assets: a browser's GET of the GraphQL endpoint gets our page, which
loads only this origin's files (each pinned by its Subresource Integrity hash) under a policy
that allows no other origin, pre-fills the credentials and offers the persisted operations as
examples; the assets path serves those files and nothing else; JSON GraphQL is unchanged."""

import base64
import hashlib
import json
import re
from importlib import resources

import pytest
from graphql import OperationDefinitionNode, parse, validate

from asteri.http.graphiql import ASSETS, PACKAGE
from asteri.schema import build_schema
from asteri.schema.build import PREVIEW_NOTE
from tests.factories import GRAPHQL, Api

ASSETS_PATH = f"{GRAPHQL}/assets"
HTML = {"accept": "text/html"}
_TAGS = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
_INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def _page(api: Api) -> str:
    page = api.client.get(GRAPHQL, headers=HTML)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    return page.text


def _linked(html: str) -> dict[str, str]:
    """Each asset URL the page loads → its integrity attribute."""
    found = {}
    for tag in _TAGS.findall(html):
        url = re.search(r'\b(?:src|href)="([^"]+)"', tag)
        if url is None or url.group(1).startswith("data:"):  # the empty icon: nothing loaded
            continue
        integrity = re.search(r'\bintegrity="([^"]+)"', tag)
        assert integrity is not None, tag
        found[url.group(1)] = integrity.group(1)
    return found


def _policy(api: Api) -> dict[str, list[str]]:
    header = api.client.get(GRAPHQL, headers=HTML).headers["content-security-policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def _settings(html: str) -> dict[str, object]:
    """The page's settings (``endpoint``, ``examples``), as its inline script holds them."""
    (script,) = _INLINE.findall(html)
    match = re.search(r"var settings = (\{.*?\});\n", script, re.DOTALL)
    assert match is not None
    value = json.loads(match.group(1))
    assert isinstance(value, dict)
    return value


def test_a_browser_gets_our_page_with_same_origin_assets_only(api: Api) -> None:
    html = _page(api)
    assert "GraphiQL.createFetcher" in html
    linked = _linked(html)
    names = {url.removeprefix(f"{ASSETS_PATH}/").split("?")[0] for url in linked}
    assert names == set(ASSETS)
    for url in linked:
        assert url.startswith(f"{ASSETS_PATH}/"), url  # a path on this origin, never a URL
    assert "unpkg" not in html
    assert "jsdelivr" not in html
    assert not re.search(r'\b(?:src|href)="(?:https?:)?//', html)


def test_each_asset_has_its_type_its_integrity_and_long_caching(api: Api) -> None:
    package = resources.files(PACKAGE).joinpath("static", PACKAGE)
    for url, integrity in _linked(_page(api)).items():
        answer = api.client.get(url)
        assert answer.status_code == 200, url
        name = url.removeprefix(f"{ASSETS_PATH}/").split("?")[0]
        expected = "text/css" if name.endswith(".css") else "text/javascript"
        assert answer.headers["content-type"].split(";")[0] == expected
        assert answer.content == package.joinpath(name).read_bytes()
        algorithm, _, digest = integrity.partition("-")
        assert algorithm == "sha384"
        assert base64.b64decode(digest) == hashlib.sha384(answer.content).digest()
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
        again = api.client.get(url, headers={"if-none-match": answer.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""


def test_an_unversioned_asset_url_is_revalidated(api: Api) -> None:
    answer = api.client.get(f"{ASSETS_PATH}/graphiql.min.js")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-cache"


def test_the_policy_allows_this_origin_only(api: Api) -> None:
    html = _page(api)
    policy = _policy(api)
    assert policy["default-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for directive in ("script-src", "style-src", "img-src", "font-src"):
        for source in policy[directive]:
            assert source in ("'self'", "data:") or re.fullmatch(r"'sha256-[^']+'", source), (
                directive,
                source,
            )
    (script,) = _INLINE.findall(html)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert "'self'" in policy["style-src"]
    assert all("'unsafe-inline'" not in values for values in policy.values())
    assert all("'unsafe-eval'" not in values for values in policy.values())


def test_the_persisted_operations_are_the_examples(api: Api) -> None:
    settings = _settings(_page(api))
    assert settings["endpoint"] == GRAPHQL
    examples = settings["examples"]
    assert isinstance(examples, list)
    schema = build_schema()
    assert examples == list(schema.persisted.files.values())
    shown = set()
    for example in examples:
        document = parse(example)
        assert validate(schema._schema, document) == []
        shown |= {
            d.name.value
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name is not None
        }
    assert set(schema.persisted.by_name) <= shown


def test_the_page_pre_fills_the_credentials(api: Api) -> None:
    html = _page(api)
    for header in ("x-api-key", "x-organization-id"):
        assert f'<label for="{header}">' in html
        assert f'<input id="{header}"' in html
    (script,) = _INLINE.findall(html)
    assert "window.location.hash" in script  # the portal's link: #x-api-key=…&x-organization-id=…
    assert "localStorage" in script  # or what the form stored
    assert "headers: headers" in script  # sent with every request


@pytest.mark.parametrize(
    "path",
    [
        "views.py",
        "__init__.py",
        "fetch.umd.js",  # shipped, not needed: not served
        "graphql-ws.min.js",
        "%2e%2e",  # (a bare ".." the client itself resolves before sending)
        "%2e%2e%2fviews.py",
        "..%2f..%2f..%2fopenapi.json",
        "..%5cviews.py",
        "static",
        "static/graphene_django_graphiql_static/graphiql.min.js",
        "%2fetc%2fpasswd",
        "graphiql.min.js%00.css",
        "",
    ],
)
def test_nothing_else_is_served_from_the_assets_path(api: Api, path: str) -> None:
    answer = api.client.get(f"{ASSETS_PATH}/{path}")
    assert answer.status_code == 404, (path, answer.status_code)
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_the_assets_path_lists_nothing(api: Api) -> None:
    assert api.client.get(ASSETS_PATH).status_code == 404
    assert api.client.get(f"{ASSETS_PATH}/").status_code == 404


def test_the_json_endpoint_answers_as_before(api: Api) -> None:
    cred = api.key()
    answer = api.post("{ viewer { scopes } }", as_=cred)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert "content-security-policy" not in answer.headers
    assert answer.json()["data"]["viewer"]["scopes"]
    by_get = api.client.get(
        GRAPHQL,
        params={"query": "{ viewer { scopes } }"},
        headers={**cred.headers(), "accept": "application/json"},
    )
    assert by_get.status_code == 200
    assert by_get.json()["data"]["viewer"]["scopes"]


def test_the_docs_pane_shows_each_fields_scope(api: Api) -> None:
    """Introspection has no applied directives: the scope is in the description."""
    query = """{ __schema {
      queryType { fields { name description } }
      mutationType { fields { name description } }
    } }"""
    answer = api.post(query)
    assert answer.status_code == 200
    schema = answer.json()["data"]["__schema"]
    fields = {
        f["name"]: f["description"]
        for root in ("queryType", "mutationType")
        for f in schema[root]["fields"]
    }
    assert "Requires scope `read:customers`." in fields["customers"]
    assert "Requires scope `write:customers`." in fields["createCustomer"]
    assert "`owner` or `admin`" in fields["auditEvents"]
    assert PREVIEW_NOTE in fields["customers"]
    assert PREVIEW_NOTE not in fields["webhookEndpoints"]
    nested = api.post('{ __type(name: "Appointment") { fields { name description } } }')
    described = {f["name"]: f["description"] for f in nested.json()["data"]["__type"]["fields"]}
    assert "Requires scope `read:customers`." in described["customer"]
