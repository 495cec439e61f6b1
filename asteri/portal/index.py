"""The reference index: structured records for the developer pages, and the search entries
derived from them.

``build_index()`` is built once per process (at start-up, by the app) from the live sources:

- ``Guide``: each ``guides/<order>-<slug>.md`` file, with its ``## `` sections;
- ``OperationDoc``: each REST route of ``ROUTES`` and the persisted operation it runs (its
  GraphQL source, root field description, scopes and roles: ``PersistedOperation``);
- ``TypeDoc``: each public object, input and enum type of the schema (not introspection's, not
  the root ``Query``/``Mutation``, whose fields are the operations), with its fields and the
  scope each field's ``@requiresScope`` declares;
- ``ScopeDoc``: each ``Scope``, with the operations that need it;
- ``ProblemDoc``: each ``ErrorCode``, with its status, title, cause and fix, as the problem
  catalogue declares them (``kit/problem_catalogue.py``);
- ``EventDoc``: each event type of the catalogue (``schema/events.py``).

The HTML pages render the records; ``entries`` flattens them for search (``search.py``), each
with its page's URL under ``/developers``.
"""

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLObjectType,
)
from markdown_it import MarkdownIt
from markdown_it.token import Token

from asteri.authz.scopes import Scope
from asteri.kit.errors import problem_type
from asteri.kit.problem_catalogue import PROBLEMS
from asteri.schema import build_schema
from asteri.schema.events import event_types
from asteri.schema.operations import API_PREFIX, ROUTES
from asteri.schema.persisted import field_requirements

__all__ = [
    "BASE_URL",
    "GUIDES_DIR",
    "Entry",
    "EntryKind",
    "EventDoc",
    "FieldDoc",
    "Guide",
    "GuideSection",
    "OperationDoc",
    "ProblemDoc",
    "ReferenceIndex",
    "ScopeDoc",
    "TypeDoc",
    "anchor_of",
    "build_index",
    "entries_of",
    "parse_guide",
    "problem_slug",
]

GUIDES_DIR = Path(__file__).parent / "guides"
BASE_URL = "/developers"

EntryKind = Literal["guide", "operation", "type", "field", "scope", "error", "event"]


@dataclass(frozen=True)
class GuideSection:
    """One ``## `` section of a guide (the text before the first is the intro: ``anchor`` "")."""

    anchor: str
    heading: str
    text: str  # plain text, Markdown removed
    code: tuple[str, ...]  # its inline code spans: the API tokens it is about


@dataclass(frozen=True)
class Guide:
    slug: str
    title: str
    order: int
    markdown: str
    sections: tuple[GuideSection, ...]


@dataclass(frozen=True)
class OperationDoc:
    name: str  # the persisted operation's name, also the OpenAPI operationId
    method: str
    path: str  # relative to ``base_path``: ``/customers/{id}``
    base_path: str  # ``/api/public/v1``
    kind: str  # the route kind: list, retrieve, create, update, delete, action
    tag: str  # the resource (the OpenAPI tag): ``customers``
    root_field: str
    operation_type: str  # query or mutation
    source: str  # the persisted GraphQL document
    description: str
    scopes: tuple[str, ...]
    roles: tuple[str, ...]  # only a session of one of these roles may run it
    stability: str = "preview"  # its collection's: ``preview`` or ``available``

    @property
    def full_path(self) -> str:
        return self.base_path + self.path


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str  # GraphQL type string, ``[Customer!]!``; empty for an enum value
    description: str
    scope: str | None  # what its ``@requiresScope`` declares
    roles: tuple[str, ...] = ()  # what its ``@requiresRole`` declares


@dataclass(frozen=True)
class TypeDoc:
    name: str
    kind: Literal["object", "input", "enum"]
    description: str
    fields: tuple[FieldDoc, ...]  # an enum's values, for an enum


@dataclass(frozen=True)
class ScopeDoc:
    name: str
    category: str  # ``Customers``, ``Team``, ``Webhooks``…: what the scope is of
    operations: tuple[str, ...]  # the operations needing it
    allows: str  # in words, from those operations


@dataclass(frozen=True)
class ProblemDoc:
    code: str
    status: int
    title: str
    cause: str
    fix: str
    path: str  # its page: the path of the problem's ``type`` (``problem_type``), on any base


@dataclass(frozen=True)
class EventDoc:
    name: str
    description: str
    resource: str
    payload_schema: str  # its OpenAPI component


@dataclass(frozen=True)
class Entry:
    """One search result candidate. ``terms``: the API's own tokens the entry is about (scope,
    event and header names, status and error codes, reasons), kept whole by the search
    tokenizer."""

    kind: EntryKind
    key: str
    title: str
    summary: str
    body: str
    terms: tuple[str, ...]
    url: str


@dataclass(frozen=True)
class ReferenceIndex:
    guides: tuple[Guide, ...]
    operations: tuple[OperationDoc, ...]
    types: tuple[TypeDoc, ...]
    scopes: tuple[ScopeDoc, ...]
    problems: tuple[ProblemDoc, ...]
    events: tuple[EventDoc, ...]
    entries: tuple[Entry, ...] = field(default=())


# ---------------------------------------------------------------------------------- guides

_GUIDE_NAME = re.compile(r"^(\d+)-([a-z0-9][a-z0-9-]*)\.md$")
_markdown = MarkdownIt("commonmark").enable("table")


def anchor_of(heading: str) -> str:
    """``Over the limit: 429`` → ``over-the-limit-429`` (the HTML pages use the same)."""
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _inline_text(token: Token) -> tuple[str, list[str]]:
    words: list[str] = []
    code: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            words.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            words.append(" ")
        if child.type == "code_inline":
            code.append(child.content)
    return "".join(words), code


def parse_guide(path: Path) -> Guide:
    """One guide file: its order and slug from the name, its title from the ``# `` line."""
    named = _GUIDE_NAME.match(path.name)
    if named is None:
        raise RuntimeError(f"{path.name}: a guide is named <order>-<slug>.md")
    markdown = path.read_text()
    tokens = _markdown.parse(markdown)
    title = ""
    sections: list[GuideSection] = []
    # The section being read (the intro first).
    heading, text, code = "", list[str](), list[str]()
    pending_heading: str | None = None

    def close() -> None:
        if heading or text:
            sections.append(
                GuideSection(anchor_of(heading), heading, " ".join(text).strip(), tuple(code))
            )

    for token in tokens:
        if token.type == "heading_open":
            pending_heading = token.tag
            continue
        if token.type == "inline":
            content, spans = _inline_text(token)
            if pending_heading == "h1" and not title:
                title = content
            elif pending_heading == "h2":
                close()
                heading, text, code = content, [], list(spans)
            else:
                text.append(content)
                code.extend(spans)
            pending_heading = None
        elif token.type in ("fence", "code_block"):
            text.append(token.content)
    close()
    if not title or not markdown.startswith("# "):
        raise RuntimeError(f"{path.name}: a guide starts with its `# Title` line")
    return Guide(named.group(2), title, int(named.group(1)), markdown, tuple(sections))


def _guides(directory: Path = GUIDES_DIR) -> tuple[Guide, ...]:
    guides = sorted((parse_guide(p) for p in directory.glob("*.md")), key=lambda g: g.order)
    slugs = [g.slug for g in guides]
    if len(set(slugs)) != len(slugs):
        raise RuntimeError("two guides share a slug")
    return tuple(guides)


# ------------------------------------------------------------------------------ operations


def _operations() -> tuple[OperationDoc, ...]:
    registry = build_schema().persisted
    found = []
    for route in ROUTES:
        op = registry.by_name[route.operation]
        found.append(
            OperationDoc(
                name=op.name,
                method=route.method,
                path=route.path,
                base_path=API_PREFIX,
                kind=route.kind,
                tag=route.tag,
                root_field=op.root_field,
                operation_type=op.operation_type.value,
                source=op.source,
                description=op.field.description or "",
                scopes=tuple(s.value for s in op.scopes),
                roles=op.roles,
                stability=route.stability.value,
            )
        )
    return tuple(found)


# ----------------------------------------------------------------------------------- types

_ROOTS = frozenset({"Query", "Mutation", "Subscription"})


def _type_doc(named: GraphQLNamedType) -> TypeDoc | None:
    if named.name.startswith("__") or named.name in _ROOTS:
        return None
    if isinstance(named, GraphQLEnumType):
        values = tuple(
            FieldDoc(name, "", value.description or "", None)
            for name, value in named.values.items()
        )
        return TypeDoc(named.name, "enum", named.description or "", values)
    if isinstance(named, GraphQLObjectType | GraphQLInputObjectType):
        fields = []
        for name, definition in named.fields.items():
            scopes, roles = (
                field_requirements(definition) if isinstance(named, GraphQLObjectType) else ((), ())
            )
            fields.append(
                FieldDoc(
                    name,
                    str(definition.type),
                    definition.description or "",
                    scopes[0].value if scopes else None,
                    roles,
                )
            )
        kind: Literal["object", "input"] = (
            "object" if isinstance(named, GraphQLObjectType) else "input"
        )
        return TypeDoc(named.name, kind, named.description or "", tuple(fields))
    return None  # scalars


def _types() -> tuple[TypeDoc, ...]:
    graphql = build_schema()._schema
    docs = (_type_doc(t) for t in graphql.type_map.values())
    return tuple(sorted((d for d in docs if d is not None), key=lambda d: d.name))


# ---------------------------------------------------------------------------------- scopes

_ALLOWS = {"list": "list", "retrieve": "read", "create": "create", "update": "update"}


def _scopes(operations: Iterable[OperationDoc]) -> tuple[ScopeDoc, ...]:
    needing: dict[str, list[OperationDoc]] = {s.value: [] for s in Scope}
    for op in operations:
        for scope in op.scopes:
            needing[scope].append(op)
    docs = []
    for scope in Scope:
        action, _, subject = scope.value.partition(":")
        ops = needing[scope.value]
        if ops:
            allows = f"`{action}` on {subject}: " + ", ".join(
                f"{op.name} (`{op.method} {op.path}`)" for op in ops
            )
        else:
            allows = f"`{action}` on {subject}: no operation of this version needs it yet."
        docs.append(ScopeDoc(scope.value, subject.capitalize(), tuple(o.name for o in ops), allows))
    return tuple(docs)


# -------------------------------------------------------------------------------- problems


def problem_slug(code: str) -> str:
    """``RATE_LIMITED`` → ``rate-limited``: the end of the problem's ``type`` URI."""
    return code.lower().replace("_", "-")


def _problems() -> tuple[ProblemDoc, ...]:
    """Each code as its catalogue declares it (``kit/problem_catalogue.py``), with the
    path of its ``type`` (the base is each deployment's ``ASTERI_PUBLIC_URL``)."""
    docs = []
    for code, problem in PROBLEMS.items():
        docs.append(
            ProblemDoc(
                code=code.value,
                status=problem.status,
                title=problem.title,
                cause=problem.cause,
                fix=problem.fix,
                path=problem_type(code, ""),
            )
        )
    return tuple(docs)


# ---------------------------------------------------------------------------------- events


def _events() -> tuple[EventDoc, ...]:
    return tuple(
        EventDoc(
            kind.name,
            kind.description,
            kind.resource.name,
            f"#/components/schemas/{kind.schema_name}",
        )
        for kind in event_types()
    )


# --------------------------------------------------------------------------------- entries

_CODE_TERM = re.compile(r"[\w:.\-]+")


def _terms(*groups: Iterable[str]) -> tuple[str, ...]:
    """Distinct terms, in first-seen order; a code span is split into its tokens
    (`` `Retry-After: 23` `` → ``Retry-After``, ``23``)."""
    seen: dict[str, None] = {}
    for group in groups:
        for value in group:
            for token in _CODE_TERM.findall(value):
                token = token.strip(":.-_")
                if token:
                    seen.setdefault(token, None)
    return tuple(seen)


def _guide_entries(guide: Guide) -> list[Entry]:
    found = []
    for section in guide.sections:
        url = f"{BASE_URL}/guides/{guide.slug}" + (f"#{section.anchor}" if section.anchor else "")
        title = f"{guide.title} · {section.heading}" if section.heading else guide.title
        summary, _, rest = section.text.partition(". ")
        found.append(
            Entry(
                "guide",
                f"{guide.slug}#{section.anchor}",
                title,
                summary + ("." if rest else ""),
                rest,
                _terms(section.code),
                url,
            )
        )
    return found


def _operation_entry(op: OperationDoc) -> Entry:
    route = f"{op.method} {op.path}"
    needs = ", ".join(op.scopes) or "no scope"
    if op.roles:
        needs += "; a session of " + " or ".join(op.roles)
    return Entry(
        "operation",
        op.name,
        f"{op.name} · {route}",
        f"{route}: {op.description} Requires {needs}.",
        op.source.split("{", 1)[0].strip(),  # its signature: the name and its variables
        _terms([op.method, op.path, op.root_field, op.tag], op.scopes, op.roles),
        f"{BASE_URL}/operations/{op.name}",
    )


def _type_entries(doc: TypeDoc) -> list[Entry]:
    url = f"{BASE_URL}/types/{doc.name}"
    found = [
        Entry(
            "type",
            doc.name,
            doc.name,
            doc.description or f"The {doc.name} {doc.kind} type.",
            " ".join(f.name for f in doc.fields),  # each has its own entry, described
            _terms([doc.name, doc.kind]),
            url,
        )
    ]
    if doc.kind == "enum":
        return found  # its values are in its body, not entries of their own
    for f in doc.fields:
        found.append(
            Entry(
                "field",
                f"{doc.name}.{f.name}",
                f"{doc.name}.{f.name}",
                f.description or f"{doc.name}.{f.name}: {f.type}.",
                f"{f.type}" + (f" Requires {f.scope}." if f.scope else ""),
                _terms([f.name], [f.scope] if f.scope else [], f.roles),
                f"{url}#{f.name}",
            )
        )
    return found


def _scope_entry(doc: ScopeDoc) -> Entry:
    return Entry(
        "scope",
        doc.name,
        doc.name,
        f"{doc.name}: {doc.category} scope, {doc.allows.split(': ', 1)[0]}.",
        doc.allows,
        _terms([doc.name, doc.category]),
        f"{BASE_URL}/scopes#{doc.name}",
    )


def _problem_entry(doc: ProblemDoc) -> Entry:
    return Entry(
        "error",
        doc.code,
        f"{doc.status} {doc.code}",
        doc.title + ("" if doc.cause == doc.title else f". {doc.cause}"),
        doc.fix,
        _terms([str(doc.status), doc.code, problem_slug(doc.code)]),
        f"{BASE_URL}/problems/{problem_slug(doc.code)}",
    )


def _event_entry(doc: EventDoc) -> Entry:
    return Entry(
        "event",
        doc.name,
        doc.name,
        doc.description,
        f"{'An' if doc.resource[0] in 'aeiou' else 'A'} {doc.resource} event: webhook "
        f"endpoints subscribed to `{doc.name}` or "
        f"`{doc.resource}.*` receive it; its payload is {doc.payload_schema.rsplit('/', 1)[-1]}.",
        _terms([doc.name, doc.resource]),
        f"{BASE_URL}/events#{doc.name}",
    )


def entries_of(index: ReferenceIndex) -> tuple[Entry, ...]:
    found: list[Entry] = []
    for guide in index.guides:
        found += _guide_entries(guide)
    found += [_operation_entry(op) for op in index.operations]
    for doc in index.types:
        found += _type_entries(doc)
    found += [_scope_entry(doc) for doc in index.scopes]
    found += [_problem_entry(doc) for doc in index.problems]
    found += [_event_entry(doc) for doc in index.events]
    return tuple(found)


@cache
def build_index() -> ReferenceIndex:
    """The index, built once per process from the live sources."""
    operations = _operations()
    index = ReferenceIndex(
        guides=_guides(),
        operations=operations,
        types=_types(),
        scopes=_scopes(operations),
        problems=_problems(),
        events=_events(),
    )
    return dataclasses.replace(index, entries=entries_of(index))
