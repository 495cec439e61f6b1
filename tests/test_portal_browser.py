"""The developer portal in a real browser (Debian's Chromium, ``tests/browser.py``).

Each kind of page renders under its own Content-Security-Policy without a console error and
passes axe-core (no serious or critical violation); the search box answers as one types and
its hit can be followed by keyboard; every link of every page reachable from ``/`` answers;
GraphiQL, given a key and an organization in the portal's form, runs a query."""

import html
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urljoin, urlparse

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from asteri.app import create_app
from asteri.kit.settings import Settings
from tests.browser import axe, chromium, open_page
from tests.factories import REST, Api
from tests.servers import serving

PAGES = [
    "/developers",
    "/developers/guides/authentication",
    "/developers/operations",
    "/developers/operations/CreatePayment",
    "/developers/types",
    "/developers/types/Invoice",
    "/developers/scopes",
    "/developers/events",
    "/developers/problems",
    "/developers/problems/rate-limited",
    "/developers/search?q=429",
]


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


@pytest.mark.parametrize("path", PAGES)
def test_each_kind_of_page_renders_under_its_policy_and_passes_axe(
    base_url: str, browser: Browser, path: str
) -> None:
    with open_page(browser, base_url + path) as page:
        assert page.locator("h1").count() == 1
        assert page.locator("main").count() == 1
        assert page.get_attribute("html", "lang") == "en"
        assert page.locator("label[for=q]").count() == 1  # the search box is labelled
        assert page.problems == []  # type: ignore[attr-defined]
    with open_page(browser, base_url + path, bypass_csp=True) as page:
        assert axe(page) == []


def test_the_root_leads_to_the_portal(base_url: str, browser: Browser) -> None:
    with open_page(browser, base_url + "/") as page:
        assert urlparse(page.url).path == "/developers"
        assert "Asteri developers" in page.locator("h1").inner_text()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("429", "/developers/problems/rate-limited"),
        ("write:estimates", "/developers/scopes#write:estimates"),
        ("invoice.paid", "/developers/events#invoice.paid"),
    ],
)
def test_search_answers_as_one_types_and_its_hit_is_followed(
    base_url: str, browser: Browser, query: str, expected: str
) -> None:
    with open_page(browser, base_url + "/developers") as page:
        page.locator("#q").press_sequentially(query, delay=30)
        first = page.locator("#hits a").first
        expect(first).to_be_visible(timeout=5000)
        assert (first.get_attribute("href") or "").startswith(expected.split("#")[0])
        page.locator("#q").press("ArrowDown")  # the keyboard reaches the hits
        expect(first).to_be_focused()
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: urlparse(url).path == urlparse(expected).path)
        assert page.locator("h1").count() == 1
        assert page.problems == []  # type: ignore[attr-defined]


def test_every_link_of_every_page_answers(base_url: str) -> None:
    """A crawl of the portal from ``/developers``: each same-origin link answers 200, each
    page under ``/developers`` is crawled in turn, and a link's fragment names an element
    of the page it leads to."""
    host = urlparse(base_url).netloc
    queue, seen, broken = deque([base_url + "/developers"]), {base_url + "/developers"}, {}
    pages: dict[str, str] = {}
    fragments: set[tuple[str, str]] = set()
    with httpx.Client(timeout=10) as client:
        while queue:
            url = queue.popleft()
            answer = client.get(url)
            if answer.status_code != 200:
                broken[url] = answer.status_code
                continue
            if not answer.headers["content-type"].startswith("text/html"):
                continue
            assert len(answer.content) < 100_000, url
            pages[url] = answer.text
            for href in _hrefs(answer.text):
                target, _, fragment = urljoin(url, href).partition("#")
                if urlparse(target).netloc != host:
                    continue
                if fragment:
                    fragments.add((target, fragment))
                if target not in seen:
                    seen.add(target)
                    if urlparse(target).path.startswith(("/developers", "/api", "/llms.txt")):
                        queue.append(target)
    assert broken == {}
    assert len(seen) > 200  # every operation, type, guide and problem page was reached
    missing = [
        f"{target}#{fragment}"
        for target, fragment in sorted(fragments)
        if target in pages and f'id="{html.escape(unquote(fragment))}"' not in pages[target]
    ]
    assert missing == [], "links to anchors their page does not have"


def _hrefs(html: str) -> list[str]:
    found: list[str] = re.findall(r'href="([^"]+)"', html)
    return found


def test_graphiql_runs_a_query_with_the_key_from_the_portals_form(
    api: Api, base_url: str, browser: Browser
) -> None:
    # Playwright's sync API runs an event loop in this thread: the key is made in another.
    with ThreadPoolExecutor(1) as pool:
        key = pool.submit(api.key).result()
    with open_page(browser, f"{base_url}/developers") as page:
        page.get_by_label("API key").fill(key.key)
        page.get_by_label("Organization").fill(key.organization_id)
        page.get_by_role("button", name="Open GraphiQL").click()
        page.wait_for_url(lambda url: urlparse(url).path == f"{REST}/graphql")
        editor = page.locator(".graphiql-query-editor .CodeMirror").first
        expect(editor).to_be_visible(timeout=10_000)
        assert key.key not in page.url  # the fragment was taken, then cleared
        page.evaluate(
            "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
            ".setValue('{ viewer { organization { id } environment } }')"
        )
        body = _run_in_graphiql(page)
        assert body["data"]["viewer"]["organization"]["id"] == key.organization_id
        expect(page.locator(".graphiql-response")).to_contain_text('"viewer"')
        assert page.problems == []  # type: ignore[attr-defined]


def _run_in_graphiql(page: Page) -> dict[str, Any]:
    """Press GraphiQL's run button until it sends the query (it ignores presses until it has
    read the schema); its answer."""
    for _ in range(20):
        try:
            with page.expect_response(
                lambda r: r.request.method == "POST" and "viewer" in (r.request.post_data or ""),
                timeout=1000,
            ) as answered:
                page.locator(".graphiql-execute-button").click()
        except PlaywrightTimeout:
            continue
        found: dict[str, Any] = answered.value.json()
        return found
    raise AssertionError("GraphiQL never sent the query")
