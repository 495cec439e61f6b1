"""The permission runner (``schema/permissions_runner.py``) against strawberry's executor, on a
throwaway schema: the same ``Info`` reaches ``has_permission``, and allowing, refusing through
``on_unauthorized`` with its error extensions, raising, async checks and ``fail_silently`` all
end the same way. Compiled reads and the REST pre-flight run permissions only through it."""

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
import strawberry
from graphql import located_error, parse
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from asteri.kit.errors import Forbidden
from asteri.models import IdempotencyRecord
from asteri.rest_facade.routes import build_router
from asteri.schema import build_schema
from asteri.schema.operations import ROUTES, Route
from asteri.schema.permissions_runner import FieldPermissions, LazyVariables
from tests.factories import ALL_SCOPES, Api
from tests.test_idempotency import _count, _key
from tests.test_parity import Tenant, _operation, _request_data

SEEN: list[dict[str, Any]] = []


def _view(info: Info, kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a permission can read of its ``Info``."""
    raw = info._raw_info
    return {
        "field_name": info.field_name,
        "python_name": info.python_name,
        "path": info.path.as_list(),
        "path_typename": info.path.typename,
        "parent_type": raw.parent_type.name,
        "return_type": str(raw.return_type),
        "strawberry_return_type": str(info.return_type),
        "variables": info.variable_values,
        "operation": info.operation.name.value if info.operation.name else None,
        "fragments": sorted(raw.fragments),
        "selected": [
            (getattr(f, "name", ""), sorted(getattr(s, "name", "") for s in f.selections))
            for f in info.selected_fields
        ],
        "context": info.context,
        "root_value": info.root_value,
        "input_extensions": info.input_extensions,
        "schema": info.schema is SCHEMA,
        "kwargs": kwargs,
    }


class Decides(BasePermission):
    """Records what it was given, then answers ``allow`` (or raises ``raises``)."""

    message = "Not for you."

    def __init__(self, allow: bool, raises: Exception | None = None) -> None:
        self.error_extensions = {"code": "FORBIDDEN", "reason": "test_refusal"}
        self.allow = allow
        self.raises = raises

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        SEEN.append(_view(info, kwargs))
        if self.raises is not None:
            raise self.raises
        return self.allow


class DecidesLater(Decides):
    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().has_permission(source, info, **kwargs)


class Logged(FieldExtension):
    """Not a permission: a compiled read cannot run it in the executor's place."""

    async def resolve_async(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        return await next_(source, info, **kwargs)


@strawberry.type
class Thing:
    id: strawberry.ID
    name: str


def _thing(id: strawberry.ID, first: int) -> Thing:
    return Thing(id=id, name=f"thing {first}")


@strawberry.type
class Query:
    @strawberry.field(extensions=[PermissionExtension([Decides(True)])])
    async def allowed(self, info: Info, id: strawberry.ID, first: int = 3) -> Thing:
        return _thing(id, first)

    @strawberry.field(extensions=[PermissionExtension([Decides(True), Decides(False)])])
    async def refused(self, info: Info, id: strawberry.ID, first: int = 3) -> Thing:
        return _thing(id, first)

    @strawberry.field(
        extensions=[PermissionExtension([Decides(True, Forbidden("no", reason="missing_scope"))])]
    )
    async def raising(self, info: Info, id: strawberry.ID, first: int = 3) -> Thing:
        return _thing(id, first)

    @strawberry.field(extensions=[PermissionExtension([DecidesLater(False)])])
    async def later(self, info: Info, id: strawberry.ID, first: int = 3) -> Thing:
        return _thing(id, first)

    @strawberry.field(extensions=[PermissionExtension([Decides(False)], fail_silently=True)])
    async def silent(self, info: Info, id: strawberry.ID, first: int = 3) -> Thing | None:
        return _thing(id, first)

    @strawberry.field(extensions=[PermissionExtension([Decides(True)]), Logged()])
    async def logged(self, info: Info, id: strawberry.ID, first: int = 3) -> Thing:
        return _thing(id, first)


SCHEMA = strawberry.Schema(query=Query)
CONTEXT = {"who": "tester"}


def _document(field: str) -> str:
    return (
        f"query Read($id: ID!, $first: Int) {{ {field}(id: $id, first: $first) {{ ...T }} }}\n"
        "fragment T on Thing { id name }"
    )


def _executor(field: str, variables: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    SEEN.clear()
    result = asyncio.run(
        SCHEMA.execute(_document(field), variable_values=variables, context_value=CONTEXT)
    )
    errors = [
        {"message": e.message, "path": e.path, "extensions": e.extensions}
        for e in result.errors or []
    ]
    return (result.data, errors), list(SEEN)


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


def _runner(field: str, variables: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """The field run as a compiled read runs it: the whole chain around its resolver."""
    SEEN.clear()
    gate = FieldPermissions.of(SCHEMA, parse(_document(field)), whole_chain=True)
    assert gate is not None
    coerced = gate.coerce(variables)
    assert coerced is not None
    info = gate.info(CONTEXT, coerced.coerced)
    try:
        value: Any = asyncio.run(
            _awaited(gate.chain(gate.call())(None, info, **gate.arguments(coerced, info)))
        )
    except Exception as exc:  # as the executor locates a field error
        error = located_error(exc, [gate.node], [gate.response_key])
        answer: Any = (
            None,
            [{"message": error.message, "path": error.path, "extensions": error.extensions}],
        )
    else:
        data = None if value is None else {"id": value.id, "name": value.name}
        answer = ({field: data}, [])
    return answer, list(SEEN)


@pytest.mark.parametrize("field", ["allowed", "refused", "raising", "later", "silent"])
def test_the_runner_decides_as_the_executor_does(field: str) -> None:
    variables = {"id": "t_1", "first": 7}
    executed, executed_seen = _executor(field, variables)
    ran, ran_seen = _runner(field, variables)
    assert ran == executed
    assert ran_seen == executed_seen
    assert ran_seen, "no permission ran"
    assert ran_seen[0]["path"] == [field]
    assert ran_seen[0]["parent_type"] == "Query"
    assert ran_seen[0]["kwargs"] == {"id": "t_1", "first": 7}
    assert ran_seen[0]["selected"] == [(field, ["T"])]  # the fragment, resolved by name
    assert ran_seen[0]["fragments"] == ["T"]
    if field == "refused":  # on_unauthorized: the permission's message and error extensions
        assert executed[1] == [
            {
                "message": "Not for you.",
                "path": ["refused"],
                "extensions": {"code": "FORBIDDEN", "reason": "test_refusal"},
            }
        ]
    if field == "silent":
        assert executed == ({"silent": None}, [])


def test_a_field_with_other_extensions_is_left_to_the_executor() -> None:
    """A compiled read runs the whole chain, so it cannot stand in for ``Logged``; the REST
    pre-flight runs only the permissions (what follows runs through the executor)."""
    document = parse(_document("logged"))
    assert FieldPermissions.of(SCHEMA, document, whole_chain=True) is None
    assert FieldPermissions.of(SCHEMA, document, whole_chain=False) is not None


def test_the_preflight_answers_with_the_error_the_execution_would() -> None:
    """``refusal``: the permissions alone, their error shaped as the schema shapes it."""
    variables = {"id": "t_1"}
    for field, expected in [("allowed", None), ("silent", None), ("raising", "missing_scope")]:
        gate = FieldPermissions.of(SCHEMA, parse(_document(field)), whole_chain=False)
        assert gate is not None
        refused = asyncio.run(gate.refusal(CONTEXT, variables))
        if expected is None:
            assert refused is None, field
        else:
            assert refused is not None
            assert refused.extensions == {"code": "FORBIDDEN", "status": 403, "reason": expected}
            assert refused.path == [field]
    invalid = FieldPermissions.of(SCHEMA, parse(_document("raising")), whole_chain=False)
    assert invalid is not None
    assert asyncio.run(invalid.refusal(CONTEXT, {"first": 1})) is None  # the executor's 400


def test_rest_variables_are_coerced_only_when_read() -> None:
    calls: list[int] = []

    def coerce() -> dict[str, Any]:
        calls.append(1)
        return {"id": "t_1"}

    lazy = LazyVariables(coerce)
    gate = FieldPermissions.of(SCHEMA, parse(_document("allowed")), whole_chain=True)
    assert gate is not None
    info = gate.info(CONTEXT, lazy)
    assert calls == []
    assert info.variable_values == {"id": "t_1"}
    assert info.variable_values == {"id": "t_1"}
    assert calls == [1]


def test_every_rest_route_runs_its_root_permissions_before_anything() -> None:
    """Compiled reads run them around the resolver; every other route in the pre-flight."""
    _, bindings = build_router(build_schema(), ROUTES)
    unguarded = [b.op.name for b in bindings if b.compiled is None and b.preflight is None]
    assert unguarded == []
    assert any(b.preflight is not None for b in bindings)


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.method == "POST"], ids=lambda r: f"{r.method} {r.path}"
)
def test_a_post_refused_by_its_permissions_stores_no_idempotent_response(
    api: Api, route: Route
) -> None:
    """The README's promise: refused before it runs (missing scope, not a key manager), the
    request stores nothing, so the same Idempotency-Key works once the caller may."""
    op = _operation(route.operation)
    if op.roles:  # the security center: no key may, whatever its scopes
        caller, reason = api.key(), "key_manager_required"
    else:
        lacking = {s.value for s in op.scopes}
        caller = api.key(scopes=[s for s in ALL_SCOPES if s not in lacking])
        reason = "missing_scope"
    body, _ = _request_data(route, Tenant(api, caller, caller), {})
    path = route.path.replace("{id}", "x_missing")
    refused = api.rest("POST", path, as_=caller, json=body, headers={"Idempotency-Key": _key()})
    assert (refused.status_code, refused.json()["reason"]) == (403, reason), refused.text
    assert _count(api.engine, IdempotencyRecord, caller) == 0
