"""The developer portal's pages: rendered once per app from the reference index, served from
memory.

Every page is server-rendered HTML (Jinja2 templates in ``templates/``, autoescaped) that reads
well without JavaScript; the portal's few lines of plain JS (``portal.js``, inlined and allowed
by its hash in the page's CSP) show search results as one types and hand GraphiQL a key, from
``GET /api/public/v1/search``, and without them the box submits to ``/developers/search``,
rendered here from the same index. Nothing on a page is written for the page: the guides are
their Markdown (``guides/*.md``), an operation is its route, its persisted operation and its
OpenAPI entry, a type is the schema's, a problem the catalogue's, an event the catalogue's.
``llms.txt`` is the same index as plain text, for tools and assistants.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from asteri.kit.errors import problem_type
from asteri.kit.naming import pascal
from asteri.kit.problem_catalogue import PROBLEMS, ErrorCode, reasons_of, slug_of
from asteri.portal.index import BASE_URL, Guide, OperationDoc, ReferenceIndex, anchor_of
from asteri.portal.search import Hit
from asteri.resolvers.crud import example_id
from asteri.resolvers.registry import logs, resources
from asteri.schema.operations import API_PREFIX

__all__ = ["PAGE_BUDGET", "Page", "Portal"]

HERE = Path(__file__).parent
PAGE_BUDGET = 100_000  # bytes: no page may weigh more (a test holds every one to it)
DOCUMENTED_HOST = "http://127.0.0.1:8000"  # the examples' server, as the README's
STABILITY = {"preview": "Private preview", "available": "Available now"}
KINDS = {"object": "Object types", "input": "Input types", "enum": "Enums"}
_CODE_SPAN = re.compile(r"`([^`]+)`")
_markdown = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True)
class Page:
    body: bytes
    media_type: str = "text/html; charset=utf-8"


def code_spans(text: str) -> Markup:
    """Escaped text, its `backticks` as <code>: how the catalogues write code in prose."""
    return Markup(_CODE_SPAN.sub(r"<code>\1</code>", str(escape(text))))  # noqa: S704 (escaped first)


def guide_html(guide: Guide) -> str:
    """A guide's Markdown as HTML, each heading with the anchor its search entry links to."""
    tokens = _markdown.parse(guide.markdown)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            token.attrSet("id", anchor_of(tokens[i + 1].content))
        elif token.type == "fence":  # a code block may scroll: the keyboard must reach it
            token.attrSet("tabindex", "0")
    rendered: str = _markdown.renderer.render(tokens, _markdown.options, {})
    return rendered


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["code_spans"] = code_spans
    env.globals |= {
        "api_prefix": API_PREFIX,
        "stability_names": STABILITY,
        "kind_names": KINDS,
        "search_script": Markup((HERE / "portal.js").read_text()),  # noqa: S704 (our file)
    }
    return env


def _schema_name(schema: Mapping[str, Any] | None) -> str:
    if not schema:
        return ""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items'))}"
    return str(schema.get("type", ""))


# One problem page per status (the first code the catalogue gives it): a response's link.
_BY_STATUS: dict[int, ErrorCode] = {}
for _code, _problem in PROBLEMS.items():
    _BY_STATUS.setdefault(_problem.status, _code)


def _responses(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    for status, response in entry.get("responses", {}).items():
        content: dict[str, Any] = response.get("content", {})
        problem = int(status) >= 400 and int(status) in _BY_STATUS
        media: dict[str, Any] = next(iter(content.values()), {})
        schema = media.get("schema")
        found.append(
            {
                "status": status,
                "description": response.get("description", ""),
                "schema": _schema_name(schema),
                "problem": f"{BASE_URL}/problems/{slug_of(_BY_STATUS[int(status)])}"
                if problem
                else None,
            }
        )
    return found


def _parameters(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": p["name"],
            "in": p["in"],
            "required": p.get("required", False),
            "type": _schema_name(p.get("schema")),
            "description": p.get("description", ""),
        }
        for p in entry.get("parameters", [])
    ]


def _example_ids() -> dict[str, str]:
    """A well-formed example id for each collection's path (the OpenAPI examples' own)."""
    return {
        collection.collection.replace("_", " "): example_id(collection)
        for collection in (*resources(), *logs())
    }


def curl_example(op: OperationDoc, entry: Mapping[str, Any], schemas: Mapping[str, Any]) -> str:
    """The operation as one curl command: its path with an example id, the credential
    headers as the README names them (``$KEY``, or a session's ``$TOKEN`` where only an
    owner's or admin's session may, and ``$ORG``), and its sample body, if any."""
    path = op.path.replace("{id}", _example_ids().get(op.tag, "{id}"))
    lines = [f'curl -X {op.method} "{DOCUMENTED_HOST}{op.base_path}{path}"']
    if op.roles:  # the security center: a person's session, never a key
        lines.append('  -H "Authorization: Bearer $TOKEN" -H "x-organization-id: $ORG"')
    else:
        lines.append('  -H "x-api-key: $KEY" -H "x-organization-id: $ORG"')
    body = entry.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        examples = schemas.get(_schema_name(body.get("schema")), {}).get("examples") or [{}]
        lines.append("  -H 'content-type: application/json'")
        lines.append(f"  -d '{orjson.dumps(examples[0]).decode()}'")
    return " \\\n".join(lines)


class Portal:
    """Every page, rendered for one deployment (``public_url``: the problems' ``type`` base)."""

    def __init__(self, index: ReferenceIndex, openapi: Mapping[str, Any], public_url: str) -> None:
        self.index = index
        self.env = _environment()
        self.public_url = public_url
        self._openapi = openapi
        self.pages: dict[str, Page] = {}
        self._render_all()

    def _html(self, template: str, **context: Any) -> Page:
        context.setdefault("guides", self.index.guides)
        context.setdefault("current", None)
        context.setdefault("summary", "")
        context.setdefault("query", "")
        body = self.env.get_template(template).render(**context).encode()
        return Page(body)

    def _operation_entry(self, op: OperationDoc) -> Mapping[str, Any]:
        entry: Mapping[str, Any] = self._openapi["paths"][op.base_path + op.path][op.method.lower()]
        return entry

    def _render_all(self) -> None:
        index, pages = self.index, self.pages
        overview = index.guides[0]
        pages[BASE_URL] = self._html(
            "home.html",
            title="Asteri developers",
            overview_lead=overview.sections[0].text if overview.sections else "",
            resources=self._resources(),
            sdk_url=self._section_url("TypeScript SDK"),
        )
        for guide in index.guides:
            html = Markup(guide_html(guide))  # noqa: S704 (our own Markdown, in the repo)
            pages[f"{BASE_URL}/guides/{guide.slug}"] = self._html(
                "guide.html", title=guide.title, html=html, current=guide.slug
            )
        by_tag = [(tag, list(ops)) for tag, ops in groupby(index.operations, lambda o: o.tag)]
        pages[f"{BASE_URL}/operations"] = self._html(
            "operations.html", title="REST operations", by_tag=by_tag, url=_op_url
        )
        schemas = self._openapi.get("components", {}).get("schemas", {})
        for op in index.operations:
            entry = self._operation_entry(op)
            body = entry.get("requestBody", {}).get("content", {}).get("application/json")
            request_schema = _schema_name(body.get("schema")) if body else ""
            pages[_op_url(op)] = self._html(
                "operation.html",
                title=op.name,
                summary=op.description,
                op=op,
                stability=op.stability,
                parameters=_parameters(entry),
                request_schema=request_schema,
                request_type=request_schema if request_schema in _type_names(index) else "",
                responses=_responses(entry),
                curl=curl_example(op, entry, schemas),
            )
        by_kind = [(kind, [t for t in index.types if t.kind == kind]) for kind in KINDS]
        pages[f"{BASE_URL}/types"] = self._html(
            "types.html", title="GraphQL types", by_kind=by_kind
        )
        for doc in index.types:
            pages[f"{BASE_URL}/types/{doc.name}"] = self._html(
                "type.html", title=doc.name, summary=doc.description, doc=doc
            )
        pages[f"{BASE_URL}/scopes"] = self._html("scopes.html", title="Scopes", scopes=index.scopes)
        events = [
            {"name": e.name, "description": e.description, "type_name": pascal(e.resource)}
            for e in index.events
        ]
        pages[f"{BASE_URL}/events"] = self._html("events.html", title="Events", events=events)
        problems = [
            {"status": p.status, "code": p.code, "title": p.title, "url": p.path}
            for p in index.problems
        ]
        pages[f"{BASE_URL}/problems"] = self._html(
            "problems.html", title="Problems", problems=problems
        )
        for code, problem in PROBLEMS.items():
            problem_doc = next(p for p in index.problems if p.code == code.value)
            pages[f"{BASE_URL}/problems/{slug_of(code)}"] = self._html(
                "problem.html",
                title=problem.title,
                summary=problem.cause,
                problem=problem_doc,
                type_uri=problem_type(code, self.public_url),
                reasons=reasons_of(code),
            )
        pages["/llms.txt"] = Page(self._llms().encode(), "text/plain; charset=utf-8")

    def _section_url(self, heading: str) -> str:
        """The guide section whose heading starts with ``heading`` (the resources guide's
        ``TypeScript SDK — …``): its anchor is derived, never typed."""
        for guide in self.index.guides:
            for section in guide.sections:
                if section.heading.startswith(heading):
                    return f"{BASE_URL}/guides/{guide.slug}#{section.anchor}"
        raise LookupError(f"no guide section starts with {heading!r}")

    def _resources(self) -> list[dict[str, Any]]:
        """The resource surface: each collection's operations and its stability."""
        found = []
        for tag, ops in groupby(self.index.operations, lambda o: o.tag):
            listed = list(ops)
            found.append(
                {
                    "title": tag.capitalize(),
                    "stability": listed[0].stability,
                    "collection": f"{API_PREFIX}/{tag.replace(' ', '_')}",
                    "operations": [{"name": o.name, "url": _op_url(o)} for o in listed],
                }
            )
        return found

    def search_page(self, query: str, hits: Iterable[Hit]) -> Page:
        return self._html("search.html", title="Search", query=query, hits=list(hits))

    def _llms(self) -> str:
        """The index as plain text: what an assistant needs to call the API correctly."""
        index = self.index
        out = [
            "# Asteri Public API",
            "",
            "> Field-service data (customers, appointments, estimates, invoices, payments, team, "
            f"services, webhooks) over REST ({API_PREFIX}) and GraphQL ({API_PREFIX}/graphql). "
            "Every request sends x-api-key (or a bearer session) and x-organization-id.",
            "",
            "## Guides",
            *(f"- [{g.title}]({BASE_URL}/guides/{g.slug})" for g in index.guides),
            "",
            "## REST operations",
            *(
                f"- {op.method} {op.base_path}{op.path} ({op.name}; "
                f"{', '.join(op.scopes) or 'any credential'}; {op.stability}): "
                f"{_first(op.description)}"
                for op in index.operations
            ),
            "",
            "## Scopes",
            *(f"- {s.name}: {s.allows}" for s in index.scopes),
            "",
            "## Problems (RFC 9457, application/problem+json)",
            *(f"- {p.status} {p.code}: {p.title}. Fix: {p.fix}" for p in index.problems),
            "",
            "## Events",
            *(f"- {e.name}: {_first(e.description)}" for e in index.events),
            "",
            f"- OpenAPI: {API_PREFIX}/openapi.json",
            "",
        ]
        return "\n".join(out)


def _first(text: str) -> str:
    """The first line of a description."""
    return text.strip().split("\n", 1)[0]


def _op_url(op: OperationDoc) -> str:
    return f"{BASE_URL}/operations/{op.name}"


def _type_names(index: ReferenceIndex) -> set[str]:
    return {t.name for t in index.types}
