"""The error catalogue (``kit/problem_catalogue.py``) is complete, and every problem ``type``
resolves: to a page of this very app that explains the problem and the reason it carried.

The source scan finds every ``reason`` an error can be made with — a literal, a constant, an
argument forwarded through a helper, an f-string over an enum — and holds the catalogue to
exactly that set, each under the code of the error class that carries it.
"""

import ast
import importlib
import re
import secrets
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from itertools import product
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from pydantic import ValidationError

from asteri.app import create_app
from asteri.http.problems import _BY_STATUS
from asteri.kit.errors import (
    ApiError,
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    UndeclaredReason,
    problem_body,
    status_for,
)
from asteri.kit.problem_catalogue import PROBLEMS, REASONS, ErrorCode, reasons_of, slug_of
from asteri.kit.settings import DEFAULT_PUBLIC_URL, Settings
from tests.factories import REST, Api

PACKAGE = Path(__file__).parents[1] / "asteri"

# The product brief's words, verbatim.
BRIEF = {
    ErrorCode.UNAUTHENTICATED: (
        "Credentials are invalid or expired. This usually means the request is missing "
        "x-api-key, the key is inactive or expired, or bearer auth is malformed.",
        "Check the key value, expiry, and whether the request is also sending the correct "
        "x-organization-id.",
    ),
    ErrorCode.FORBIDDEN: (
        "The caller lacks the required scope. Preview routes enforce narrow scopes like "
        "read:customers and write:estimates.",
        "If you receive a missing-scope response, update the key in Security settings or "
        "switch to the correct organization.",
    ),
    ErrorCode.RATE_LIMITED: (
        "Preview API keys can be limited per minute and per day. When you exceed that budget, "
        "the response includes a limit window and Retry-After.",
        "Honor the limit window before retrying. Back off worker concurrency, avoid blind "
        "replay loops, and only retry after the returned window has reset.",
    ),
}


# --- the catalogue itself ------------------------------------------------------------------


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_has_a_status_title_cause_and_fix(code: ErrorCode) -> None:
    problem = PROBLEMS[code]
    assert problem.code is code
    assert problem.title
    assert problem.cause
    assert problem.fix
    assert len(problem.cause) > 40, "a few sentences each"
    assert len(problem.fix) > 40, "a few sentences each"
    if code in BRIEF:
        assert (problem.cause, problem.fix) == BRIEF[code]


def test_statuses_agree_with_the_http_mapping() -> None:
    for status, code in _BY_STATUS.items():
        assert status_for(code) == status


def test_every_reason_names_its_code_meaning_and_action() -> None:
    for name, reason in REASONS.items():
        assert reason.name == name
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", name), name
        assert reason.meaning, name
        assert reason.action, name
        assert reason in reasons_of(reason.code)


# --- every reason in the source is catalogued ----------------------------------------------


class Unresolvable(Exception):
    """A ``reason=`` expression the scan cannot reduce to the names it may take."""


@dataclass(frozen=True)
class Found:
    reason: str
    code: ErrorCode
    where: str


class _Module:
    """One source file: its tree, its runtime module, and each node's enclosing function."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = "asteri." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        self.name = self.name.removesuffix(".__init__")
        self.tree = ast.parse(path.read_text())
        self.module: ModuleType = importlib.import_module(self.name)
        self.function: dict[ast.AST, ast.FunctionDef | ast.AsyncFunctionDef | None] = {}
        self._enclose(self.tree, None)

    def _enclose(self, node: ast.AST, function: Any) -> None:
        for child in ast.iter_child_nodes(node):
            self.function[child] = function
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else None
            self._enclose(child, inner or function)

    def value(self, dotted: str) -> Any:
        head, *rest = dotted.split(".")
        if not hasattr(self.module, head):
            raise Unresolvable(f"{self.name}: no global {head}")
        value = getattr(self.module, head)
        for part in rest:
            value = getattr(value, part)
        return value

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _modules() -> list[_Module]:
    return [_Module(p) for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts]


def _calls_to(modules: list[_Module], name: str) -> Iterator[tuple[_Module, ast.Call]]:
    for m in modules:
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Call):
                called = _dotted(node.func)
                if called is not None and called.split(".")[-1] == name:
                    yield m, node


def _argument(function: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, name: str) -> Any:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    positional = [*function.args.posonlyargs, *function.args.args]
    names = [a.arg for a in positional]
    if name in names:
        index = names.index(name)
        if any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
            raise Unresolvable(f"a starred argument hides `{name}`")
        if index < len(call.args):
            return call.args[index]
        defaults = function.args.defaults
        first_default = len(positional) - len(defaults)
        if index >= first_default:
            return defaults[index - first_default]
    raise Unresolvable(f"no `{name}` in the call on line {call.lineno}")


def _enum_of(m: _Module, function: Any, name: str) -> type[Enum]:
    """The enum a local name holds: from its annotation, or the return type of the call that
    assigned it (``lapsed = lapse(...)`` → ``Lapse | None``)."""
    for node in ast.walk(function):
        hints: Any = None
        if isinstance(node, ast.AnnAssign) and _dotted(node.target) == name:
            hints = eval(ast.unparse(node.annotation), vars(m.module))  # noqa: S307 (our own source)
        elif (
            isinstance(node, ast.Assign)
            and [_dotted(t) for t in node.targets] == [name]
            and isinstance(node.value, ast.Call)
        ):
            called = _dotted(node.value.func)
            if called is not None:
                hints = typing.get_type_hints(m.value(called)).get("return")
        if hints is None:
            continue
        for candidate in (hints, *typing.get_args(hints)):
            if isinstance(candidate, type) and issubclass(candidate, Enum):
                return candidate
    raise Unresolvable(f"`{name}` in an f-string is not an enum")


def _values(modules: list[_Module], m: _Module, node: ast.expr, depth: int = 0) -> dict[str, str]:
    """Every string ``node`` can be — the reasons it stands for — each with where it is
    written (a forwarded reason: at the call that passes it)."""
    here = m.where(node)
    if depth > 5:
        raise Unresolvable("forwarded too many times")
    function = m.function.get(node)
    if isinstance(node, ast.Constant):
        if node.value is None:
            return {}
        if isinstance(node.value, str):
            return {node.value: here}
        raise Unresolvable(f"a {type(node.value).__name__} reason")
    if isinstance(node, ast.IfExp):
        return _values(modules, m, node.body, depth) | _values(modules, m, node.orelse, depth)
    if isinstance(node, ast.JoinedStr):
        parts: list[list[str]] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append([str(value.value)])
            elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name):
                enum = _enum_of(m, function, value.value.id)
                parts.append([str(member) for member in enum])
            else:
                raise Unresolvable(f"f-string part {ast.unparse(value)}")
        return {"".join(p): here for p in product(*parts)}
    if isinstance(node, ast.Name) and function is not None:
        params = {a.arg for a in (*function.args.posonlyargs, *function.args.args)}
        params |= {a.arg for a in function.args.kwonlyargs}
        if node.id in params:  # forwarded: what every caller passes
            found: dict[str, str] = {}
            callers = list(_calls_to(modules, function.name))
            if not callers:
                raise Unresolvable(f"nothing calls {function.name}")
            for caller_module, call in callers:
                argument = _argument(function, call, node.id)
                found |= _values(modules, caller_module, argument, depth + 1)
            return found
    dotted = _dotted(node)
    if dotted is not None:
        value = m.value(dotted)
        if isinstance(value, str):
            return {str(value): here}
    raise Unresolvable(ast.unparse(node))


def _error_class(m: _Module, call: ast.Call) -> type[ApiError] | None:
    called = _dotted(call.func)
    if called is None:
        return None
    try:
        value = m.value(called)
    except (Unresolvable, AttributeError):
        return None
    return value if isinstance(value, type) and issubclass(value, ApiError) else None


def _problem_code(m: _Module, call: ast.Call) -> ErrorCode:
    """The ``code`` a ``problem_body``/``problem_response`` call renders."""
    for node in [*call.args, *(k.value for k in call.keywords if k.arg == "code")]:
        dotted = _dotted(node)
        if dotted is not None and dotted.startswith("ErrorCode."):
            return ErrorCode(m.value(dotted))
    raise Unresolvable(f"the code of the call on line {call.lineno}")


def scan() -> tuple[list[Found], list[str]]:
    """Every reason the source can put in a problem (with the code it is raised under), and
    every ``reason`` expression the scan could not enumerate."""
    modules = _modules()
    found: list[Found] = []
    unresolved: list[str] = []
    for m in modules:
        for call in (n for n in ast.walk(m.tree) if isinstance(n, ast.Call)):
            error = _error_class(m, call)
            reasons = [k.value for k in call.keywords if k.arg == "reason"]
            code = error.code if error is not None else None
            if error is None and (_dotted(call.func) or "").split(".")[-1] in (
                "problem_body",
                "problem_response",
            ):
                # a problem made from a dict of extensions: its "reason" member
                for argument in [*call.args, *(k.value for k in call.keywords)]:
                    if isinstance(argument, ast.Dict):
                        reasons += [
                            v
                            for k, v in zip(argument.keys, argument.values, strict=True)
                            if isinstance(k, ast.Constant) and k.value == "reason"
                        ]
                if reasons:
                    code = _problem_code(m, call)
            if code is None:
                continue
            for expression in reasons:
                try:
                    values = _values(modules, m, expression)
                except Unresolvable as exc:
                    unresolved.append(f"{m.where(expression)}: {exc}")
                    continue
                found += [Found(v, code, where) for v, where in values.items()]
    return found, unresolved


@pytest.fixture(scope="module")
def scanned() -> tuple[list[Found], list[str]]:
    return scan()


def test_every_reason_expression_is_enumerable(scanned: tuple[list[Found], list[str]]) -> None:
    _, unresolved = scanned
    assert unresolved == [], "a reason the scan cannot enumerate: use a literal or a constant"


def test_every_reason_in_the_source_is_catalogued_under_its_code(
    scanned: tuple[list[Found], list[str]],
) -> None:
    found, _ = scanned
    wrong = [
        f"{f.where}: {f.reason!r} under {f.code.value}"
        for f in found
        if f.reason not in REASONS or REASONS[f.reason].code is not f.code
    ]
    assert wrong == []


def test_the_catalogue_has_no_reason_the_source_never_raises(
    scanned: tuple[list[Found], list[str]],
) -> None:
    found, _ = scanned
    assert {f.reason for f in found} == set(REASONS)


def test_the_scan_sees_forwarded_constant_and_enum_reasons(
    scanned: tuple[list[Found], list[str]],
) -> None:
    """What a literal-only scan would miss: through ``_refusal(reason, …)``, a constant
    (``NO_CREDENTIAL``), and ``f"{lapsed}_key"`` over the ``Lapse`` enum."""
    reasons = {f.reason for f in scanned[0]}
    assert {"query_too_costly", "auth_failures", "missing_credentials"} <= reasons
    assert {"idempotency_key_not_applicable", "revoked_key", "expired_key"} <= reasons


# --- an undeclared reason cannot be raised -------------------------------------------------


def test_an_undeclared_reason_is_refused_where_the_error_is_made() -> None:
    with pytest.raises(UndeclaredReason, match="not in the error catalogue"):
        Conflict("no", reason="made_up_on_the_spot")
    with pytest.raises(TypeError, match="catalogued under UNAUTHENTICATED"):
        Forbidden("no", reason="invalid_key")
    assert Forbidden("no", reason="missing_scope").extra == {"reason": "missing_scope"}
    assert NotFound("no").extensions()["code"] == "NOT_FOUND"


def test_a_problem_body_refuses_an_undeclared_reason() -> None:
    with pytest.raises(UndeclaredReason):
        problem_body(
            code=ErrorCode.CONFLICT,
            detail="no",
            request_id=None,
            public_url=DEFAULT_PUBLIC_URL,
            extensions={"reason": "made_up_on_the_spot"},
        )


# --- every problem type resolves to its page ------------------------------------------------


def _h1(page: str) -> str:
    headings: list[str] = re.findall(r"<h1>(.*?)</h1>", page, flags=re.DOTALL)
    assert len(headings) == 1, headings
    return headings[0]


def _resolves(client: TestClient, problem: dict[str, Any], public_url: str) -> str:
    """Fetch the problem's ``type`` from the app itself; the page must explain it."""
    assert (
        problem["type"] == f"{public_url}/developers/problems/{slug_of(ErrorCode(problem['code']))}"
    )
    page = client.get(problem["type"].removeprefix(public_url))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in page.headers  # HtmlPolicyMiddleware saw it
    html = page.text
    assert '<html lang="en">' in html
    assert len(re.findall(r"<main[ >]", html)) == 1
    declared = PROBLEMS[ErrorCode(problem["code"])]
    assert _h1(html) == declared.title
    # Readable without JavaScript: the explanation is in the page itself.
    assert str(escape(declared.cause)).split("`")[0] in html
    assert 'href="/developers"' in html
    if "reason" in problem:
        assert f'<tr id="{problem["reason"]}"><td><code>{problem["reason"]}</code>' in html
    return html


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_real_problems_resolve_to_pages_that_explain_them(api: Api) -> None:
    public_url = api.settings.public_url
    cred = api.key()
    problems = [
        _problem(api.rest("GET", "/customers", headers={"x-api-key": "ast_live_nope"}), 401),
        _problem(api.rest("GET", "/customers", as_=api.key(scopes=["read:invoices"])), 403),
        _problem(api.rest("GET", "/customers/cus_doesnotexist0000000000", as_=cred), 404),
    ]
    created = api.rest("POST", "/customers", as_=cred, json={"display_name": "Twice"})
    assert created.status_code == 201, created.text
    archive = f"/customers/{created.json()['id']}/archive"
    assert api.rest("POST", archive, as_=cred).status_code == 200
    problems.append(_problem(api.rest("POST", archive, as_=cred), 409))
    key = {"Idempotency-Key": f"problem-{secrets.token_hex(6)}"}
    first = api.rest("POST", "/customers", as_=cred, json={"display_name": "A"}, headers=key)
    assert first.status_code == 201
    reused = api.rest("POST", "/customers", as_=cred, json={"display_name": "B"}, headers=key)
    problems.append(_problem(reused, 422))
    tight = api.key(per_minute=1)
    for _ in range(3):  # two within one clock minute: the second is refused
        spent = api.rest("GET", "/customers", as_=tight)
        if spent.status_code == 429:
            break
    problems.append(_problem(spent, 429))

    assert [p.get("reason") for p in problems] == [
        "malformed_key",
        "missing_scope",
        None,
        "invalid_transition",
        "idempotency_key_reused",
        None,
    ]
    for problem in problems:
        _resolves(api.client, problem, public_url)


def test_every_problem_page_and_the_index(api: Api) -> None:
    index = api.client.get("/developers/problems")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert _h1(index.text) == "Problem types"
    for code, problem in PROBLEMS.items():
        assert f'href="/developers/problems/{problem.slug}"' in index.text
        page = api.client.get(f"/developers/problems/{problem.slug}")
        assert page.status_code == 200
        assert _h1(page.text) == problem.title
        assert f"Status {problem.status}" in page.text
        assert code.value in page.text
        for reason in reasons_of(code):
            assert f'<tr id="{reason.name}">' in page.text


def test_an_unknown_problem_is_a_404_problem(api: Api) -> None:
    problem = _problem(api.client.get("/developers/problems/no-such-problem"), 404)
    assert problem["code"] == "NOT_FOUND"
    _resolves(api.client, problem, api.settings.public_url)


def test_the_public_url_setting_sets_the_base(api: Api) -> None:
    """Another app, other settings: its problems name its portal, and still resolve (a base
    with a path is where a proxy mounts this app). A GraphQL error names its code and
    reason, whose page is found the same way."""
    base = "https://portal.example.com/asteri"
    other = api.settings.model_copy(update={"public_url": base, "auth_failures_per_minute": 1})
    address = f"203.0.113.{secrets.randbelow(250) + 1}-{secrets.token_hex(4)}"
    with TestClient(create_app(other), raise_server_exceptions=False, client=(address, 1)) as c:
        guesses = [c.get(f"{REST}/customers", headers={"x-api-key": "ast_live_x"}) for _ in "ab"]
        refused = _problem(guesses[-1], 429)
        assert refused["reason"] == "auth_failures"
        assert refused["type"] == f"{base}/developers/problems/rate-limited"
        _resolves(c, refused, base)
        page = _resolves(c, _problem(c.get("/developers/problems/nope"), 404), base)
        assert f"{base}/developers/problems/not-found" in page
        graphql = c.post(f"{REST}/graphql", json={"query": "{ viewer { environment } }"})
        assert "type" not in graphql.json()["errors"][0]["extensions"]
    assert api.client.get(f"{REST}/customers").json()["type"].startswith(DEFAULT_PUBLIC_URL)


def test_the_public_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASTERI_PUBLIC_URL", "https://api.example.com")
    assert Settings().public_url == "https://api.example.com"
    monkeypatch.delenv("ASTERI_PUBLIC_URL")
    assert Settings().public_url == DEFAULT_PUBLIC_URL == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "url",
    [
        "/developers",
        "127.0.0.1:8000",
        "developers.example.com",
        "ftp://example.com",
        "https://example.com/",
        "https://",
        "https://example.com?x=1",
    ],
)
def test_the_public_url_must_be_absolute_http_without_a_trailing_slash(url: str) -> None:
    with pytest.raises(ValidationError, match="ASTERI_PUBLIC_URL"):
        Settings(public_url=url)


def test_an_error_made_without_a_reason_is_still_fine() -> None:
    assert BadUserInput("bad").extensions() == {"code": "BAD_USER_INPUT", "status": 422}
