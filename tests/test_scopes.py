"""The scope matrix, derived from the schema itself: every scoped root field, over HTTP.

For each root field: no credential → 401; a key with every scope but the one the field
declares → 403 naming that scope; a key with only that scope → never 401/403.

The security center's root fields (``@requiresRole``) have their own matrix: no credential →
401; a key with every scope, or a session of a role that may not manage keys → 403
``key_manager_required``; an owner's or admin's session → never 401/403.
"""

from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
    get_named_type,
)

from asteri.authz.permissions import RequiresKeyManager, RequiresScope
from asteri.authz.roles import KEY_MANAGERS, ROLE_SCOPES
from asteri.schema import build_schema
from tests.factories import ALL_SCOPES, Api

_SCALARS = {
    "ID": '"zz_0"',
    "String": '"x"',
    "Int": "1",
    "SafeInt": "1",
    "Boolean": "true",
    "Float": "1.0",
    "Date": '"2026-01-01"',
}


def _literal(type_: Any) -> str:
    """A syntactically valid value for ``type_``: the permission runs before any resolver."""
    if isinstance(type_, GraphQLNonNull):
        return _literal(type_.of_type)
    if isinstance(type_, GraphQLList):
        return "[]"
    if isinstance(type_, GraphQLEnumType):
        return str(next(iter(type_.values)))
    if isinstance(type_, GraphQLInputObjectType):
        required = [
            f"{name}: {_literal(field.type)}"
            for name, field in type_.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        ]
        return "{" + ", ".join(required) + "}"
    assert isinstance(type_, GraphQLScalarType)
    return _SCALARS.get(type_.name, '"2026-01-01T00:00:00+00:00"')


def _root_calls() -> list[tuple[str, str, object]]:
    """(name, a document calling the root field, the field's permission) for each root field."""
    schema = build_schema()
    calls = []
    for root, keyword in (("Query", "query"), ("Mutation", "mutation")):
        gql_type = schema._schema.get_type(root)
        assert isinstance(gql_type, GraphQLObjectType)
        definition = schema.get_type_by_name(root)
        by_name = {schema.config.name_converter.get_graphql_name(f): f for f in definition.fields}  # type: ignore[union-attr]
        for name, field in gql_type.fields.items():
            permissions = [
                p for ext in by_name[name].extensions for p in getattr(ext, "permissions", [])
            ]
            args = [
                f"{arg_name}: {_literal(arg.type)}"
                for arg_name, arg in field.args.items()
                if isinstance(arg.type, GraphQLNonNull)
            ]
            call = f"{name}({', '.join(args)})" if args else name
            selection = (
                " { __typename }"
                if isinstance(get_named_type(field.type), GraphQLObjectType)
                else ""
            )
            for permission in permissions:
                calls.append((f"{root}.{name}", f"{keyword} {{ {call}{selection} }}", permission))
    return calls


CASES = [
    (name, document, permission.scope.value)
    for name, document, permission in _root_calls()
    if isinstance(permission, RequiresScope)
]
KEY_MANAGER_CASES = [
    (name, document)
    for name, document, permission in _root_calls()
    if isinstance(permission, RequiresKeyManager)
]


def test_matrix_covers_every_resource_field() -> None:
    names = {c[0] for c in CASES}
    assert {"Query.customer", "Query.customers", "Mutation.createCustomer"} <= names


@pytest.mark.parametrize(("name", "document", "scope"), CASES, ids=[c[0] for c in CASES])
def test_scope_enforced(api: Api, name: str, document: str, scope: str) -> None:
    org = api.org()
    status, error = api.error(document, as_=None, headers={"x-organization-id": org})
    assert (status, error["extensions"]["code"]) == (401, "UNAUTHENTICATED")

    lacking = api.key(org=org, scopes=[s for s in ALL_SCOPES if s != scope])
    status, error = api.error(document, as_=lacking)
    assert status == 403
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["extensions"]["required_scope"] == scope
    assert scope in error["message"]

    only = api.key(org=org, scopes=[scope])
    response = api.post(document, as_=only)
    codes = {e["extensions"]["code"] for e in response.json().get("errors", [])}
    assert not codes & {"UNAUTHENTICATED", "FORBIDDEN"}, (name, response.json())


def test_matrix_covers_the_security_center() -> None:
    names = {c[0] for c in KEY_MANAGER_CASES}
    assert {"Query.apiKeys", "Mutation.createApiKey", "Mutation.revokeApiKey"} <= names


@pytest.mark.parametrize(
    ("name", "document"), KEY_MANAGER_CASES, ids=[c[0] for c in KEY_MANAGER_CASES]
)
def test_only_key_managers_pass(api: Api, name: str, document: str) -> None:
    setup = api.key()  # every scope, and write:team to add the people below
    org = setup.organization_id
    status, error = api.error(document, as_=None, headers={"x-organization-id": org})
    assert (status, error["extensions"]["code"]) == (401, "UNAUTHENTICATED")

    refused = [setup] + [
        api.session(role=r, org_key=setup) for r in ROLE_SCOPES if r not in KEY_MANAGERS
    ]
    for caller in refused:
        status, error = api.error(document, as_=caller)
        assert (status, error["extensions"]["code"]) == (403, "FORBIDDEN"), caller
        assert error["extensions"]["reason"] == "key_manager_required"

    for role in sorted(KEY_MANAGERS):
        response = api.post(document, as_=api.session(role=role, org_key=setup))
        codes = {e["extensions"]["code"] for e in response.json().get("errors", [])}
        assert not codes & {"UNAUTHENTICATED", "FORBIDDEN"}, (name, role, response.json())
