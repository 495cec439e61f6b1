"""The problem pages: what every problem ``type`` resolves to, rendered from the catalogue.

``GET /developers/problems/<slug>`` is one problem: its title, status and code, its cause and
fix, and the reasons a problem of that code can carry, each with what it means and what to
do; ``GET /developers/problems`` lists them all. Plain server-rendered HTML — readable without
JavaScript, no script at all — that ``HtmlPolicyMiddleware`` gives its policy like any page.
An unknown slug is a 404 problem.

The markup is deliberately minimal and kept in the two ``render_*`` functions: the developer
portal's templates will replace it; the routes and the catalogue stay.
"""

import html
import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from asteri.http.problems import public_url_of
from asteri.kit.errors import NotFound, problem_type
from asteri.kit.problem_catalogue import (
    PROBLEMS,
    PROBLEMS_PATH,
    Problem,
    Reason,
    reasons_of,
    slug_of,
)

__all__ = ["PORTAL_PATH", "problem_pages", "render_problem", "render_problems"]

PORTAL_PATH = "/developers"
_BY_SLUG = {slug_of(code): problem for code, problem in PROBLEMS.items()}
_CODE_SPAN = re.compile(r"`([^`]+)`")
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:46rem;padding:1rem}"
    "code{background:#f3f3f3;padding:0 .2em}dt{font-weight:600}table{border-collapse:collapse}"
    "th,td{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}"
)


def _text(value: str) -> str:
    """Escaped text, with the catalogue's `backticks` as <code>."""
    return _CODE_SPAN.sub(r"<code>\1</code>", html.escape(value))


def _page(title: str, breadcrumb: str, main: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · Asteri API problems</title>
<style>{_STYLE}</style>
</head>
<body>
<nav aria-label="Breadcrumb"><a href="{PORTAL_PATH}">Developers</a>{breadcrumb}</nav>
<main>
{main}
</main>
</body>
</html>
"""


def render_problem(problem: Problem, reasons: list[Reason], type_url: str) -> str:
    """One problem's page: what a problem whose ``type`` is ``type_url`` means."""
    rows = "\n".join(
        f'<tr id="{html.escape(r.name)}"><td><code>{html.escape(r.name)}</code></td>'
        f"<td>{_text(r.meaning)}</td><td>{_text(r.action)}</td></tr>"
        for r in reasons
    )
    reasons_part = (
        "<p>Problems of this code carry a <code>reason</code> naming the finer cause:</p>\n"
        '<table>\n<thead><tr><th scope="col">reason</th><th scope="col">meaning</th>'
        f'<th scope="col">what to do</th></tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>'
        if reasons
        else "<p>Problems of this code carry no <code>reason</code>.</p>"
    )
    main = f"""<h1>{html.escape(problem.title)}</h1>
<dl>
<dt>Status</dt><dd>{problem.status}</dd>
<dt>Code</dt><dd><code>{problem.code.value}</code></dd>
<dt>Type</dt><dd><code>{html.escape(type_url)}</code></dd>
</dl>
<h2>Cause</h2>
<p>{_text(problem.cause)}</p>
<h2>Fix</h2>
<p>{_text(problem.fix)}</p>
<h2>Reasons</h2>
{reasons_part}
<p><a href="{PROBLEMS_PATH}">All problem types</a> · <a href="{PORTAL_PATH}">Developers</a></p>"""
    crumb = f' &rsaquo; <a href="{PROBLEMS_PATH}">Problems</a>'
    return _page(problem.title, crumb, main)


def render_problems(problems: list[Problem]) -> str:
    """The index: every problem type, linked to its page."""
    rows = "\n".join(
        f'<tr><td>{p.status}</td><td><a href="{PROBLEMS_PATH}/{p.slug}">'
        f"<code>{p.code.value}</code></a></td><td>{html.escape(p.title)}</td></tr>"
        for p in problems
    )
    main = f"""<h1>Problem types</h1>
<p>Every error the API answers is a problem with a stable <code>code</code>; on REST its
<code>type</code> is the page below that explains it.</p>
<table>
<thead>
<tr><th scope="col">status</th><th scope="col">code</th><th scope="col">title</th></tr>
</thead>
<tbody>
{rows}
</tbody>
</table>"""
    return _page("Problem types", " &rsaquo; Problems", main)


problem_pages = APIRouter(include_in_schema=False)


@problem_pages.get(PROBLEMS_PATH)
async def problem_index() -> HTMLResponse:
    return HTMLResponse(render_problems(list(PROBLEMS.values())))


@problem_pages.get(PROBLEMS_PATH + "/{slug}")
async def problem_page(request: Request, slug: str) -> HTMLResponse:
    problem = _BY_SLUG.get(slug)
    if problem is None:
        raise NotFound(f"No problem type is called `{slug}`; see {PROBLEMS_PATH}.")
    type_url = problem_type(problem.code, public_url_of(request))
    return HTMLResponse(render_problem(problem, reasons_of(problem.code), type_url))
