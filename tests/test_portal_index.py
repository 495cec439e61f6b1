"""The reference index covers what the code declares, derived, never counted by hand; the
guides say what the code does."""

import ast
import base64
import hashlib
import re
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from asteri.authz.scopes import Scope
from asteri.kit.errors import ErrorCode, problem_body
from asteri.kit.problem_catalogue import PROBLEMS
from asteri.portal.index import (
    BASE_URL,
    GUIDES_DIR,
    ReferenceIndex,
    build_index,
    parse_guide,
    problem_slug,
)
from asteri.schema import build_schema
from asteri.schema.events import event_types
from asteri.schema.operations import ROUTES
from asteri.webhooks.secrets import WebhookSecret
from asteri.webhooks.signing import signature_headers

PORTAL = Path(__file__).parents[1] / "asteri" / "portal"


@pytest.fixture(scope="module")
def index() -> ReferenceIndex:
    return build_index()


def _urls(index: ReferenceIndex, kind: str) -> set[str]:
    return {e.url for e in index.entries if e.kind == kind}


def test_every_route_is_an_operation_with_its_persisted_operation(index: ReferenceIndex) -> None:
    registry = build_schema().persisted
    assert [(op.method, op.path, op.name) for op in index.operations] == [
        (r.method, r.path, r.operation) for r in ROUTES
    ]
    for op in index.operations:
        persisted = registry.by_name[op.name]
        assert op.source == persisted.source
        assert op.scopes == tuple(s.value for s in persisted.scopes)
        assert op.roles == persisted.roles
        assert op.description == (persisted.field.description or "")
        assert op.full_path == "/api/public/v1" + op.path
    assert _urls(index, "operation") == {f"{BASE_URL}/operations/{r.operation}" for r in ROUTES}


def test_operations_carry_their_scopes_or_roles(index: ReferenceIndex) -> None:
    by_name = {op.name: op for op in index.operations}
    assert by_name["CreateEstimate"].scopes == ("write:estimates",)
    assert by_name["ListApiKeys"].roles == ("owner", "admin")
    assert by_name["GetViewer"].scopes == ()


def test_every_scope_has_a_doc_and_an_entry(index: ReferenceIndex) -> None:
    assert [s.name for s in index.scopes] == [s.value for s in Scope]
    assert _urls(index, "scope") == {f"{BASE_URL}/scopes#{s.value}" for s in Scope}
    for doc in index.scopes:
        needing = [op.name for op in index.operations if doc.name in op.scopes]
        assert list(doc.operations) == needing
        assert doc.category == doc.name.split(":")[1].capitalize()


def test_every_error_code_is_a_problem_doc(index: ReferenceIndex) -> None:
    assert [p.code for p in index.problems] == [c.value for c in ErrorCode]
    for doc in index.problems:
        code = ErrorCode(doc.code)
        declared = PROBLEMS[code]
        assert (doc.status, doc.title, doc.cause, doc.fix) == (
            declared.status,
            declared.title,
            declared.cause,
            declared.fix,
        )
        body = problem_body(code=code, detail="", request_id=None, public_url="https://x.example")
        assert body["type"] == "https://x.example" + doc.path
        assert doc.path.endswith("/" + problem_slug(doc.code))
    assert _urls(index, "error") == {
        f"{BASE_URL}/problems/{c.value.lower().replace('_', '-')}" for c in ErrorCode
    }


def test_every_event_type_is_an_event_doc(index: ReferenceIndex) -> None:
    kinds = event_types()
    assert [(e.name, e.description, e.resource) for e in index.events] == [
        (k.name, k.description, k.resource.name) for k in kinds
    ]
    assert _urls(index, "event") == {f"{BASE_URL}/events#{k.name}" for k in kinds}


def test_every_guide_file_is_a_guide(index: ReferenceIndex) -> None:
    files = sorted(GUIDES_DIR.glob("*.md"))
    assert files
    assert sorted(g.slug for g in index.guides) == sorted(
        re.sub(r"^\d+-", "", f.stem) for f in files
    )
    assert [g.order for g in index.guides] == sorted(g.order for g in index.guides)
    for guide in index.guides:
        assert guide.markdown.startswith(f"# {guide.title}\n")
        page = f"{BASE_URL}/guides/{guide.slug}"
        urls = {e.url for e in index.entries if e.kind == "guide" and e.url.split("#")[0] == page}
        assert len(urls) == len(guide.sections)


def test_the_guides_the_brief_asks_for_exist(index: ReferenceIndex) -> None:
    assert {g.slug for g in index.guides} >= {
        "overview",
        "resources",
        "authentication",
        "errors",
        "rate-limits",
        "idempotency",
        "pagination",
        "conditional-requests",
        "versioning",
        "webhooks",
    }


def test_a_guide_needs_its_name_and_title(tmp_path: Path) -> None:
    (tmp_path / "overview.md").write_text("# Overview\n")
    with pytest.raises(RuntimeError, match="<order>-<slug>"):
        parse_guide(tmp_path / "overview.md")
    (tmp_path / "01-overview.md").write_text("Overview\n")
    with pytest.raises(RuntimeError, match="Title"):
        parse_guide(tmp_path / "01-overview.md")


def test_types_are_the_public_schema_types_with_field_scopes(index: ReferenceIndex) -> None:
    graphql = build_schema()._schema
    names = {t.name for t in index.types}
    assert {"Customer", "CustomerFilter", "AppointmentStatus"} <= names
    assert not {n for n in names if n.startswith("__")}
    assert not names & {"Query", "Mutation", "String", "ID", "DateTime"}
    public = {
        n
        for n, t in graphql.type_map.items()
        if not n.startswith("__") and n not in ("Query", "Mutation") and hasattr(t, "fields")
    }
    assert public <= names
    appointment = next(t for t in index.types if t.name == "Appointment")
    fields = {f.name: f for f in appointment.fields}
    assert fields["customer"].scope == "read:customers"
    assert fields["customer"].type == "Customer"
    assert fields["id"].scope is None
    sdl = build_schema().as_str()
    declared = set(re.findall(r'(\w+)\(?[^\n]*@requiresScope\(scope: "([\w:]+)"\)', sdl))
    scoped = {(f.name, f.scope) for t in index.types for f in t.fields if f.scope}
    assert scoped <= declared


def test_entries_have_their_kinds_and_urls(index: ReferenceIndex) -> None:
    kinds = {e.kind for e in index.entries}
    assert kinds == {"guide", "operation", "type", "field", "scope", "error", "event"}
    keys = [(e.kind, e.key) for e in index.entries]
    assert len(keys) == len(set(keys))
    assert all(e.url.startswith(f"{BASE_URL}/") for e in index.entries)
    field = next(e for e in index.entries if e.key == "Invoice.amountDue")
    assert field.url == f"{BASE_URL}/types/Invoice#amountDue"


def test_terms_carry_the_apis_tokens(index: ReferenceIndex) -> None:
    def terms(url: str) -> set[str]:
        return {t for e in index.entries if e.url.startswith(url) for t in e.terms}

    assert {"x-api-key", "x-organization-id"} <= terms(f"{BASE_URL}/guides/authentication")
    assert {"Retry-After", "429", "RateLimit-Policy"} <= terms(f"{BASE_URL}/guides/rate-limits")
    assert {"Idempotency-Key", "idempotency_key_reused"} <= terms(f"{BASE_URL}/guides/idempotency")
    assert {"If-Match", "412"} <= terms(f"{BASE_URL}/guides/conditional-requests")
    assert {"429", "RATE_LIMITED"} <= terms(f"{BASE_URL}/problems/rate-limited")
    assert "write:estimates" in terms(f"{BASE_URL}/operations/CreateEstimate")
    assert "invoice.paid" in terms(f"{BASE_URL}/events#invoice.paid")


def test_build_index_is_cached() -> None:
    assert build_index() is build_index()


# The guides against the code.


def test_the_authentication_guide_lists_every_scope() -> None:
    text = next(GUIDES_DIR.glob("*-authentication.md")).read_text()
    for scope in Scope:
        assert f"`{scope.value}`" in text, scope
    for category in {s.value.split(":")[1].capitalize() for s in Scope}:
        assert f"| {category} |" in text


BRIEF = {
    "401": "Credentials are invalid or expired. This usually means the request is missing "
    "x-api-key, the key is inactive or expired, or bearer auth is malformed. Check the key "
    "value, expiry, and whether the request is also sending the correct x-organization-id.",
    "403": "The caller lacks the required scope. Preview routes enforce narrow scopes like "
    "read:customers and write:estimates. If you receive a missing-scope response, update the "
    "key in Security settings or switch to the correct organization.",
    "429": "Honor the limit window before retrying. Preview API keys can be limited per minute "
    "and per day. When you exceed that budget, the response includes a limit window and "
    "Retry-After. Back off worker concurrency, avoid blind replay loops, and only retry after "
    "the returned window has reset.",
}


@pytest.mark.parametrize("status", sorted(BRIEF))
def test_the_errors_guide_says_the_briefs_words(status: str) -> None:
    guide = parse_guide(next(GUIDES_DIR.glob("*-errors.md")))
    section = next(s for s in guide.sections if s.heading.startswith(status))
    assert section.text.startswith(BRIEF[status])


def _python_example(slug: str) -> str:
    text = next(GUIDES_DIR.glob(f"*-{slug}.md")).read_text()
    blocks = [t.content for t in MarkdownIt("commonmark").parse(text) if t.info == "python"]
    assert len(blocks) == 1
    return blocks[0]


def test_the_webhooks_guides_verifier_accepts_our_signatures() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(ast.parse(_python_example("webhooks")), "webhooks.md", "exec"), namespace)  # noqa: S102
    verify = namespace["verify_webhook"]
    old = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    new = "whsec_" + base64.b64encode(hashlib.sha256(old.encode()).digest()).decode()
    body = b'{"type": "invoice.paid", "timestamp": "2026-12-03T10:00:00+00:00", "data": {}}'
    headers = signature_headers("msg_1", body, [WebhookSecret(old), WebhookSecret(new)])
    assert verify(old, headers, body)
    assert verify(new, headers, body)  # during a rotation, either secret
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    assert not verify(other, headers, body)
    assert not verify(old, headers, body + b" ")
    stale = signature_headers("msg_1", body, [WebhookSecret(old)], timestamp=int(time.time()) - 600)
    assert not verify(old, stale, body)
    assert not verify(old, {**headers, "webhook-id": "msg_2"}, body)


def test_portal_is_a_layer_above_schema() -> None:
    """``portal`` reads the schema's declarations; it serves no resource, so it imports
    neither the REST facade, the workers nor the app, and nothing below imports it."""
    for path in PORTAL.rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        layers = {m.split(".")[1] for m in modules if m.startswith("asteri.")}
        assert not layers & {"rest_facade", "workers", "app", "cli"}, path
