"""Assemble the schema from per-resource query and mutation types.

Each module of the schema declares its root fields as ``ROOT_FIELDS`` (``fields.RootFields``);
this module finds them all, so adding a resource touches no list here.
"""

import importlib
import pkgutil
from functools import lru_cache
from typing import Any

import strawberry
from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)
from strawberry.extensions import AddValidationRules
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

import asteri.schema
from asteri.kit.naming import snake
from asteri.kit.settings import get_settings
from asteri.resolvers.registry import validated_inputs
from asteri.resolvers.validation import constraint_text, declared_constraints, inner_model
from asteri.schema.compiled import CompiledRead, CompiledReads, compile_read
from asteri.schema.context import Authenticate
from asteri.schema.errors import ErrorShaping, log_incidents
from asteri.schema.fields import RootFields
from asteri.schema.limits import DocumentLimits
from asteri.schema.operations import ROUTES
from asteri.schema.persisted import (
    PersistedDocuments,
    Registry,
    ValidateUnlessDecided,
    field_requirements,
)
from asteri.schema.scalars import SCALARS
from asteri.schema.stability import StabilityHeader, preview_fields

__all__ = [
    "AsteriSchema",
    "build_schema",
    "declared_description",
    "limit_rules",
    "print_sdl",
    "root_types",
]


def root_types() -> tuple[Any, Any]:
    """``Query`` and ``Mutation``, merged from every module's ``ROOT_FIELDS``."""
    parts = _root_fields()
    query = merge_types("Query", tuple(t for p in parts for t in p.queries))
    mutation = merge_types("Mutation", tuple(t for p in parts for t in p.mutations))
    return query, mutation


def _root_fields() -> list[RootFields]:
    """Every ``ROOT_FIELDS`` of the schema's modules, in module order (found, not listed)."""
    found = []
    for module in pkgutil.iter_modules(asteri.schema.__path__):
        if module.name == "build":
            continue
        declared = getattr(
            importlib.import_module(f"asteri.schema.{module.name}"), "ROOT_FIELDS", None
        )
        if isinstance(declared, RootFields):
            found.append(declared)
    return found


class AsteriSchema(strawberry.Schema):
    """The schema, plus its persisted operations (validated against it at build time)."""

    persisted: Registry
    compiled_reads: dict[int, CompiledRead]  # by id() of a persisted document
    preview_fields: frozenset[str]  # the root fields of preview routes (``stability.py``)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Only unexpected errors are logged (with traceback); 401/403/404 are not incidents."""
        log_incidents(errors)


def limit_rules(*, max_depth: int, max_aliases: int) -> tuple[Any, ...]:
    """Depth and alias rules built once: strawberry's limiter factories build new rule objects
    on every call, which makes its validation cache miss every time."""
    return (depth_rule(max_depth, None, None), alias_rule(max_aliases))


def _as_extension(rules: tuple[Any, ...]) -> type[AddValidationRules]:
    class Limits(AddValidationRules):
        def __init__(self) -> None:
            super().__init__(list(rules))

    return Limits


def build_schema(max_depth: int | None = None, max_aliases: int | None = None) -> AsteriSchema:
    """One schema per limit pair (built once); the defaults come from the settings, so
    ``build_schema()`` is the very schema of ``build_schema(<the settings' limits>)``."""
    settings = get_settings()
    return _build_schema(max_depth or settings.max_query_depth, max_aliases or settings.max_aliases)


@lru_cache(maxsize=4)
def _build_schema(max_depth: int, max_aliases: int) -> AsteriSchema:
    rules = limit_rules(max_depth=max_depth, max_aliases=max_aliases)
    query, mutation = root_types()
    schema = AsteriSchema(
        query=query,
        mutation=mutation,
        # No ParserCache: it parses inside its hook, so a syntax error escapes ErrorShaping.
        # Parsing is ~0.1 ms; persisted operations skip it altogether.
        extensions=[
            Authenticate,  # first: everything after may look at the principal
            PersistedDocuments,
            CompiledReads,
            DocumentLimits,  # after those two: a refused or persisted operation is decided
            ErrorShaping,
            _as_extension(rules),
            ValidateUnlessDecided,
            StabilityHeader,
        ],
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
    )
    _describe_constraints(schema._schema, validated_inputs())
    schema.persisted = Registry.load(schema._schema, rules)
    schema.preview_fields = preview_fields(ROUTES, schema.persisted)
    _describe_requirements(schema._schema, schema.preview_fields)
    schema.compiled_reads = {
        id(op.document): compiled
        for op in schema.persisted
        if (compiled := compile_read(schema, op, op.document)) is not None
    }
    return schema


def _describe_constraints(graphql: Any, validated: dict[str, Any]) -> None:
    """Each validated input field's constraints, in words, at the end of its description: the
    same declaration the resolvers enforce and the OpenAPI document shows."""
    pending = list(validated.items())
    done: set[str] = set()
    while pending:
        name, model = pending.pop()
        input_type = graphql.get_type(name)
        if name in done or not isinstance(input_type, GraphQLInputObjectType):
            continue
        done.add(name)
        declared = declared_constraints(model)
        for field_name, field in input_type.fields.items():
            text = constraint_text(declared.get(snake(field_name), {}))
            if text and text not in (field.description or ""):
                field.description = f"{field.description} {text}" if field.description else text
            nested = get_named_type(field.type)
            inner = model.model_fields.get(snake(field_name))
            found = inner_model(inner.annotation) if inner is not None else None
            if isinstance(nested, GraphQLInputObjectType) and found is not None:
                pending.append((nested.name, found))


PREVIEW_NOTE = "**Private preview**: may still change without notice (`x-stability: preview`)."


def _describe_requirements(graphql: GraphQLSchema, preview: frozenset[str]) -> None:
    """What a field needs, in words, at the end of its description: its scope
    (``@requiresScope``) or roles (``@requiresRole``), and for a root field in preview, that it
    is. Introspection has no applied directives, so GraphiQL's docs pane shows only this; the
    SDL shows both. The REST operations keep the declared text (``declared_description``):
    the OpenAPI document states each operation's scopes itself."""
    roots = {graphql.query_type, graphql.mutation_type}
    for type_ in graphql.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            scopes, roles = field_requirements(field)
            notes = [f"Requires scope `{scope.value}`." for scope in scopes]
            if roles:
                notes.append(
                    "Requires the session of an "
                    + " or ".join(f"`{role}`" for role in roles)
                    + " of the organization; no API key may."
                )
            if type_ in roots and name in preview:
                notes.append(PREVIEW_NOTE)
            if notes:
                field.description = " ".join([*filter(None, [field.description]), *notes])


def declared_description(field: GraphQLField) -> str | None:
    """A field's description as declared, without what ``_describe_requirements`` added."""
    declared = field.extensions.get("strawberry-definition")
    return getattr(declared, "description", None) if declared is not None else field.description


def print_sdl() -> str:
    return build_schema().as_str() + "\n"
