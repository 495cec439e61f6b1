"""A real browser for the portal's tests: Debian's Chromium (``.ci/run`` installs it when it is
missing), headless, driven by Playwright's Python API, never a browser build of Playwright's
own. A missing Chromium fails the test that asks for it: nothing is skipped.

``axe`` runs axe-core (pinned in ``tools/browser/package-lock.json``, installed by ``make``)
inside a page and returns its violations. Pages are opened with the browser's CSP bypass on,
only so that axe's script can be injected: every page's own policy is tested without it."""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

__all__ = ["AXE", "axe", "chromium", "open_page"]

AXE = Path(__file__).parents[1] / "tools" / "browser" / "node_modules" / "axe-core" / "axe.min.js"


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable is not None, "Debian's chromium is not installed (.ci/run installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Browser, url: str, *, bypass_csp: bool = False) -> Iterator[Page]:
    """``url`` in a fresh context (no shared storage between tests); console errors and
    failed requests are collected on ``page.problems``."""
    context = browser.new_context(bypass_csp=bypass_csp)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.problems = problems  # type: ignore[attr-defined]
    try:
        page.goto(url, wait_until="load")
        yield page
    finally:
        context.close()


def axe(page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations of ``impacts`` on the page as it is (WCAG 2 A and AA rules)."""
    assert AXE.exists(), f"{AXE} is missing: `make` installs tools/browser"
    page.add_script_tag(content=AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in impacts
    ]
