"""The contract is an artifact: the SDL snapshot matches the code, and every field is scoped
(or, in the security center, restricted to the roles that may manage keys) — root fields and the
fields of other types that resolve related objects alike."""

from pathlib import Path
from typing import Any

import pytest
import strawberry
from graphql import FieldDefinitionNode, ObjectTypeDefinitionNode, StringValueNode, parse
from strawberry.permission import PermissionExtension
from strawberry.types.base import StrawberryObjectDefinition

from asteri.authz.permissions import RequiresAuthentication, RequiresKeyManager, RequiresScope
from asteri.authz.scopes import Scope
from asteri.schema import build_schema, print_sdl
from asteri.schema.fields import public, query, related

SNAPSHOT = Path(__file__).parents[1] / "asteri" / "schema" / "schema.graphql"
# Root fields that need a credential but no scope, on purpose: the caller itself, and the event
# catalogue (the same for every tenant, no tenant data, and public in the OpenAPI document).
PUBLIC_ON_PURPOSE = {"viewer", "eventTypes"}
# The security center: an owner's or admin's session only, never a key, whatever its scopes.
# Resolver fields of other types that need no scope of their own, on purpose: name → why.
RELATED_PUBLIC_ON_PURPOSE: dict[str, str] = {}
KEY_MANAGERS_ONLY = {
    "apiKey",
    "apiKeys",
    "createApiKey",
    "updateApiKey",
    "rotateApiKey",
    "revokeApiKey",
    "auditEvent",
    "auditEvents",
}


def _root_fields() -> list[tuple[str, object]]:
    schema = build_schema()
    out: list[tuple[str, object]] = []
    for root in ("Query", "Mutation"):
        definition = schema.get_type_by_name(root)
        assert isinstance(definition, StrawberryObjectDefinition)
        out += [
            (f"{root}.{schema.config.name_converter.get_graphql_name(f)}", f)
            for f in definition.fields
        ]
    return out


def _permissions(field: object) -> list[object]:
    return [
        p
        for ext in getattr(field, "extensions", [])
        if isinstance(ext, PermissionExtension)
        for p in ext.permissions
    ]


def test_sdl_snapshot_matches_code() -> None:
    assert SNAPSHOT.read_text() == print_sdl(), (
        "The printed SDL drifted from asteri/schema/schema.graphql. If the change is deliberate, "
        "run `make sdl` and commit the new snapshot."
    )


def _declaration(field: str) -> str:
    """A root field's declaration in the printed SDL, to its directives: one line, or from
    ``  field(`` to the ``  ): Type …`` that closes its arguments."""
    lines = print_sdl().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {field}("))
    if lines[start].rstrip().endswith("("):
        end = next(i for i in range(start, len(lines)) if lines[i].startswith("  ): "))
        return lines[end]
    return lines[start]


@pytest.mark.parametrize(
    ("name", "field"), _root_fields(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_root_field_is_scoped_or_public_on_purpose(name: str, field: object) -> None:
    permissions = _permissions(field)
    assert len(permissions) == 1, f"{name} must declare exactly one permission"
    (permission,) = permissions
    short = name.split(".", 1)[1]
    if short in PUBLIC_ON_PURPOSE:
        assert isinstance(permission, RequiresAuthentication)
        return
    if short in KEY_MANAGERS_ONLY:
        assert isinstance(permission, RequiresKeyManager), f"{name} has no @requiresRole"
        assert permission.roles == ("owner", "admin")
        assert _declaration(short).endswith('@requiresRole(roles: ["owner", "admin"])')
        return
    assert not isinstance(permission, RequiresKeyManager), (
        f"{name} is restricted to key managers: add it to KEY_MANAGERS_ONLY if that is meant"
    )
    assert isinstance(permission, RequiresScope), f"{name} has no @requiresScope"
    assert permission.scope in Scope
    verb = permission.scope.value.split(":")[0]
    if name.startswith("Query."):
        # ``manage:`` covers reading what it manages (webhooks have no read scope of their own).
        assert verb in {"read", "manage"}, (
            f"{name}: a query needs a read scope, not {permission.scope}"
        )
    else:
        assert verb in {"write", "delete", "manage"}, f"{name}: a mutation needs a write scope"
    assert f'@requiresScope(scope: "{permission.scope.value}")' in print_sdl()


def _related_fields(schema: Any) -> dict[str, Any]:
    """Every field with a resolver on an object type other than the roots: ``Type.field``."""
    roots = {
        t.name
        for t in (
            schema._schema.query_type,
            schema._schema.mutation_type,
            schema._schema.subscription_type,
        )
        if t is not None
    }
    name_of = schema.config.name_converter.get_graphql_name
    out = {}
    for name, concrete in schema.schema_converter.type_map.items():
        definition = concrete.definition
        if not isinstance(definition, StrawberryObjectDefinition) or definition.is_input:
            continue
        if name in roots:
            continue
        for field in definition.fields:
            if field.base_resolver is not None:
                out[f"{name}.{name_of(field)}"] = field
    return out


def unscoped_related_fields(schema: Any, public: dict[str, str]) -> list[str]:
    """What the contract forbids: a resolver field of a non-root type without exactly one read
    scope (unless it is public on purpose), or without ``@requiresScope`` in the printed SDL."""
    printed = _sdl_scopes(schema.as_str())
    problems = []
    for name, field in sorted(_related_fields(schema).items()):
        permissions = _permissions(field)
        if name in public:
            if [type(p) for p in permissions] != [RequiresAuthentication]:
                problems.append(f"{name}: public on purpose, but not through `public()`")
            continue
        scopes = [p for p in permissions if isinstance(p, RequiresScope)]
        if len(permissions) != 1 or len(scopes) != 1:
            problems.append(f"{name}: declares no single @requiresScope")
            continue
        scope = scopes[0].scope
        if not scope.value.startswith("read:"):
            problems.append(f"{name}: needs a read scope, not {scope.value}")
        if printed.get(name) != scope.value:
            problems.append(f"{name}: the printed SDL does not show @requiresScope")
    return problems


def _sdl_scopes(sdl: str) -> dict[str, str]:
    """``Type.field`` → the scope its ``@requiresScope`` names in the printed SDL."""
    out = {}
    for definition in parse(sdl).definitions:
        if not isinstance(definition, ObjectTypeDefinitionNode):
            continue
        for field in definition.fields or ():
            assert isinstance(field, FieldDefinitionNode)
            for directive in field.directives or ():
                if directive.name.value != "requiresScope":
                    continue
                (argument,) = directive.arguments or ()
                assert isinstance(argument.value, StringValueNode)
                out[f"{definition.name.value}.{field.name.value}"] = argument.value.value
    return out


def test_every_field_that_resolves_related_objects_declares_a_read_scope() -> None:
    schema = build_schema()
    related_fields = _related_fields(schema)
    assert "Customer.activity" in related_fields  # the walk reaches nested types
    assert set(RELATED_PUBLIC_ON_PURPOSE) <= set(related_fields), "a stale exception"
    assert unscoped_related_fields(schema, RELATED_PUBLIC_ON_PURPOSE) == []
    assert _sdl_scopes(print_sdl())["Customer.activity"] == "read:customers"


def test_the_related_field_check_reports_an_unscoped_or_writing_field() -> None:
    """The check bites: a throwaway schema with an unscoped resolver field, one with a write
    scope, one whose scope does not print, one public on purpose, one done right and a plain
    stored field."""

    @strawberry.type
    class Invoice:
        number: str  # a stored attribute: needs nothing

        @strawberry.field
        def payments(self) -> list[str]:
            return []

        @related(Scope.WRITE_CUSTOMERS, description="Wrongly a write scope.")
        def payer(self) -> str:
            return ""

        @strawberry.field(
            extensions=[
                PermissionExtension([RequiresScope(Scope.READ_CUSTOMERS)], use_directives=False)
            ]
        )
        def lines(self) -> list[str]:
            return []

        @public(description="Any credential.")
        def currency(self) -> str:
            return "USD"

        @related(Scope.READ_CUSTOMERS, description="Right.")
        def customer(self) -> str:
            return ""

    @strawberry.type
    class Query:
        @query(Scope.READ_CUSTOMERS, description="An invoice.")
        def invoice(self) -> Invoice:
            return Invoice(number="1")

    schema = strawberry.Schema(query=Query)
    assert unscoped_related_fields(schema, {"Invoice.currency": "the invoice's own"}) == [
        "Invoice.lines: the printed SDL does not show @requiresScope",
        "Invoice.payer: needs a read scope, not write:customers",
        "Invoice.payments: declares no single @requiresScope",
    ]
    assert unscoped_related_fields(schema, {"Invoice.payments": "not through public()"}) == [
        "Invoice.currency: declares no single @requiresScope",
        "Invoice.lines: the printed SDL does not show @requiresScope",
        "Invoice.payer: needs a read scope, not write:customers",
        "Invoice.payments: public on purpose, but not through `public()`",
    ]


def test_printed_sdl_shows_scope_on_each_scoped_root_field() -> None:
    sdl = print_sdl()
    for line in sdl.splitlines():
        stripped = line.strip()
        if stripped.startswith(("customer(", "customers(", "createCustomer(")):
            assert "@requiresScope" in stripped, stripped


OPENAPI_SNAPSHOT = Path(__file__).parents[1] / "asteri" / "rest_facade" / "openapi.json"


def _openapi() -> dict[str, Any]:
    from asteri.app import create_app

    return create_app().openapi()


def test_openapi_snapshot_matches_code() -> None:
    import orjson

    generated = (
        orjson.dumps(_openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    )
    assert OPENAPI_SNAPSHOT.read_text() == generated, (
        "The OpenAPI document drifted from asteri/rest_facade/openapi.json. If the change is "
        "deliberate, run `make contracts` and commit the new snapshot."
    )


def test_openapi_is_valid_3_1() -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

    document = _openapi()
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_openapi_operation_names_its_scopes_and_errors() -> None:
    from asteri.schema.operations import ROUTES

    document = _openapi()
    operations = {
        op["operationId"]: op for item in document["paths"].values() for op in item.values()
    }
    assert set(operations) == {r.operation for r in ROUTES}
    registry = build_schema().persisted
    for name, op in operations.items():
        scopes = sorted(s.value for s in registry.by_name[name].scopes)
        assert op["x-required-scopes"] == scopes
        for scope in scopes:
            assert f"`{scope}`" in op["description"]
        roles = list(registry.by_name[name].roles)
        assert op.get("x-required-roles", []) == roles
        if roles:
            assert "`key_manager_required`" in op["description"]
        assert {"400", "401", "403", "404", "422", "429"} <= set(op["responses"])
        assert any(p["name"] == "x-organization-id" and p["required"] for p in op["parameters"])
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }


def test_openapi_examples_validate_against_their_schemas() -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    from asteri.schema.operations.examples import EXAMPLES

    document = _openapi()
    registry = Registry().with_resource(
        "urn:openapi",
        Resource.from_contents(
            {**document, "$schema": "https://json-schema.org/draft/2020-12/schema"}
        ),
    )
    schemas = document["components"]["schemas"]
    assert set(EXAMPLES) <= set(schemas)
    for name, example in EXAMPLES.items():
        assert schemas[name]["examples"] == [example]
        validator = Draft202012Validator(
            {"$ref": f"urn:openapi#/components/schemas/{name}"}, registry=registry
        )
        errors = [e.message for e in validator.iter_errors(example)]
        assert errors == [], (name, errors)


def _refs(value: Any) -> set[str]:
    """The component schemas ``value`` refers to, directly."""
    found: set[str] = set()
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for item in value.values():
            found |= _refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= _refs(item)
    return found


def test_every_success_response_has_its_schema_and_headers() -> None:
    """What a generated client types its answers from: every 2xx but a 204 is JSON with a
    component schema; every response names its request id, a 201 its Location, a 401 the
    credentials we accept."""
    document = _openapi()
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                where = f"{method.upper()} {path} {status}"
                assert "X-Request-Id" in response["headers"], where
                if status == "204":
                    assert "content" not in response, where
                elif status.startswith("2"):
                    (schema_ref,) = _refs(response["content"]["application/json"])
                    assert "required" in schemas[schema_ref], where
                if status == "201":
                    assert "Location" in response["headers"], where
                if status == "401":
                    assert "WWW-Authenticate" in response["headers"], where


def test_every_component_schema_is_referenced() -> None:
    document = _openapi()
    schemas = document["components"]["schemas"]
    reached = _refs(document["paths"]) | _refs(document["webhooks"])  # the event payloads
    frontier = list(reached)
    while frontier:
        for name in _refs(schemas[frontier.pop()]) - reached:
            reached.add(name)
            frontier.append(name)
    assert set(schemas) - reached == set()


def test_the_document_declares_its_tags_servers_license_and_contact() -> None:
    document = _openapi()
    declared = [t["name"] for t in document["tags"]]
    used = {
        tag for item in document["paths"].values() for op in item.values() for tag in op["tags"]
    }
    assert set(declared) == used
    assert all(t["description"] for t in document["tags"])
    assert document["servers"]
    assert document["info"]["license"]["name"]
    assert document["info"]["contact"]["url"]


def test_a_type_selected_in_a_third_way_is_refused_at_start_up() -> None:
    """Component names come from GraphQL type names, never from a counter: a type selected
    differently by two operations (beyond the resource and its embedded form) has no name of
    its own, and building the routes says so instead of numbering it."""
    from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

    from asteri.rest_facade.types import OutputTypes

    schema = build_schema()._schema
    customer = schema.get_type("Customer")
    outputs = OutputTypes()

    def selection(fields: str) -> Any:
        document = parse(f"query {{ customer(id: 1) {{ {fields} }} }}")
        (definition,) = document.definitions
        assert isinstance(definition, OperationDefinitionNode)
        return definition.selection_set.selections[0].selection_set  # type: ignore[attr-defined]

    fragments: dict[str, FragmentDefinitionNode] = {}
    resource = outputs.object_model(customer, selection("id tags"), fragments, resource=True)  # type: ignore[arg-type]
    embedded = outputs.object_model(customer, selection("id tags"), fragments)  # type: ignore[arg-type]
    assert (resource.__name__, embedded.__name__) == ("Customer", "CustomerEmbedded")
    assert outputs.object_model(customer, selection("id tags"), fragments) is embedded  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="select it through one fragment"):
        outputs.object_model(customer, selection("id notes"), fragments)  # type: ignore[arg-type]


def test_each_validated_field_declares_its_constraints_in_both_schemas() -> None:
    """One declaration (the resolvers' validation model) → the OpenAPI keywords of the REST
    field and the words of the GraphQL description."""
    from asteri.kit.naming import camel
    from asteri.resolvers.registry import validated_inputs
    from asteri.resolvers.validation import constraint_text, declared_constraints

    schemas = _openapi()["components"]["schemas"]
    graphql = build_schema()._schema
    checked = 0
    for input_name, model in validated_inputs().items():
        properties = schemas[input_name]["properties"]
        for field, keywords in declared_constraints(model).items():
            if field not in properties:  # validated, but not part of this input (an update's)
                continue
            rest = properties[field]
            own = {k: v for k, v in keywords.items() if k != "items"}
            assert {k: rest[k] for k in own} == own, (input_name, field)
            items = keywords.get("items", {})
            assert {k: rest["items"][k] for k in items} == items, (input_name, field)
            description = graphql.get_type(input_name).fields[camel(field)].description  # type: ignore[union-attr]
            assert constraint_text(keywords) in (description or ""), (input_name, field)
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize(
    ("schema_name", "body", "keyword"),
    [
        ("CreateCustomerInput", {"display_name": ""}, "minLength"),
        ("CreateServiceInput", {"duration_minutes": 0}, "minimum"),
        ("MoneyInput", {"amount": 1, "currency": "usd"}, "pattern"),
        ("UpdateCustomerInput", {"display_name": None}, "type"),
        ("CreateAppointmentInput", {"services": []}, "minItems"),
    ],
)
def test_what_the_server_refuses_the_schema_refuses(
    schema_name: str, body: dict[str, Any], keyword: str
) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    document = _openapi()
    registry = Registry().with_resource(
        "urn:openapi",
        Resource.from_contents(
            {**document, "$schema": "https://json-schema.org/draft/2020-12/schema"}
        ),
    )
    validator = Draft202012Validator(
        {"$ref": f"urn:openapi#/components/schemas/{schema_name}"}, registry=registry
    )
    failing = {e.validator for e in validator.iter_errors(body) if e.validator != "required"}
    failing |= {sub.validator for e in validator.iter_errors(body) for sub in (e.context or ())}
    assert keyword in failing, (schema_name, body, failing)
