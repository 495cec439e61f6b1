"""GraphQL types → pydantic models, once at start-up. One mapping serves request validation and
the OpenAPI schemas, so REST shapes are derived from the GraphQL contract, never written twice.

Bodies are strict (a JSON string is not a number); query parameters arrive as text and are
coerced. Output models follow each persisted operation's selection (with its snake_case
aliases), so the documented response is exactly what the operation returns.
"""

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    SelectionSetNode,
    Undefined,
)
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
)

from asteri.kit.naming import graphql_enum, rest_enum, snake
from asteri.resolvers.validation import declared_constraints, inner_model, nullable
from asteri.schema.scalars import MAX_SAFE_INT

__all__ = ["InputTypes", "OutputTypes", "Recase", "recaser", "rest_value"]

_INT32 = (-(2**31), 2**31 - 1)


def _integral(value: Any) -> Any:
    """``60.0`` is the integer 60, as in JSON Schema and GraphQL's ``Int`` (``60.5`` is not)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339(value: Any) -> Any:
    """A date-time is RFC 3339 text; a number (``0.5``, which pydantic would read as a Unix
    time) is refused, as the GraphQL ``DateTime`` refuses it."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise ValueError("must be an RFC 3339 date-time with offset, e.g. 2026-01-01T00:00:00Z")
    return value


DateTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    """A date is ``YYYY-MM-DD`` text, as the GraphQL ``Date`` reads it (not a number)."""
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be a date, YYYY-MM-DD, e.g. 2026-01-31")
    return value


Date = Annotated[date, BeforeValidator(_iso_date)]

_STRICT: dict[str, Any] = {
    "ID": StrictStr,
    "String": StrictStr,
    "Boolean": StrictBool,
    "Float": StrictFloat,
    "Int": Annotated[StrictInt, Field(ge=_INT32[0], le=_INT32[1]), BeforeValidator(_integral)],
    "SafeInt": Annotated[
        StrictInt, Field(ge=-MAX_SAFE_INT, le=MAX_SAFE_INT), BeforeValidator(_integral)
    ],
    "DateTime": DateTime,
    "Date": Date,
}
_LAX: dict[str, Any] = {
    **_STRICT,
    "ID": str,
    "String": str,
    "Boolean": bool,
    "Float": float,
    "Int": Annotated[int, Field(ge=_INT32[0], le=_INT32[1])],
}
_OUTPUT: dict[str, Any] = {
    "ID": str,
    "String": str,
    "Boolean": bool,
    "Float": float,
    "Int": int,
    "SafeInt": Annotated[int, Field(ge=-MAX_SAFE_INT, le=MAX_SAFE_INT)],
    "DateTime": datetime,
    "Date": date,
    "JSONObject": dict[str, Any],
}


def _scalar(table: dict[str, Any], scalar: GraphQLScalarType) -> Any:
    if scalar.name not in table:
        raise RuntimeError(f"no REST mapping for the GraphQL scalar {scalar.name}")
    return table[scalar.name]


def _declaring(keywords: dict[str, Any] | None) -> Any:
    """A field's declared constraints added to its JSON Schema; an ``items`` part joins the
    items' own schema (their type stays) rather than replacing it."""
    if not keywords:
        return None

    def extra(schema: dict[str, Any]) -> None:
        for key, value in keywords.items():
            if key == "items" and isinstance(schema.get("items"), dict):
                schema["items"] = {**schema["items"], **value}
            else:
                schema[key] = value

    return extra


class InputTypes:
    """GraphQL input types as pydantic models with snake_case fields, unknown fields refused.
    An input validated by a resolver model (``validated``: input type name → model) declares
    that model's constraints on each field (length, range, pattern, format, items): one
    declaration, shown where it is enforced."""

    def __init__(
        self, *, strict: bool = True, validated: dict[str, type[BaseModel]] | None = None
    ) -> None:
        self._scalars = _STRICT if strict else _LAX
        self._models: dict[str, type[BaseModel]] = {}
        self._validated = dict(validated or {})

    def annotation(self, type_: Any) -> Any:
        if isinstance(type_, GraphQLNonNull):
            return self._non_null(type_.of_type)
        return self._non_null(type_) | None

    def _non_null(self, type_: Any) -> Any:
        if isinstance(type_, GraphQLList):
            return list[self.annotation(type_.of_type)]  # type: ignore[misc]
        if isinstance(type_, GraphQLEnumType):
            # Validated as REST spells it, handed on as GraphQL does (kit/naming.py).
            spelled = tuple(rest_enum(v) for v in type_.values)
            return Annotated[Literal[spelled], AfterValidator(graphql_enum)]
        if isinstance(type_, GraphQLInputObjectType):
            return self.model(type_)
        return _scalar(self._scalars, type_)

    def model(self, type_: GraphQLInputObjectType) -> type[BaseModel]:
        if type_.name not in self._models:
            validation = self._validated.get(type_.name)
            declared = declared_constraints(validation)
            fields: dict[str, Any] = {}
            for name, field in type_.fields.items():
                nested = _unwrap(field.type)
                if validation is not None and isinstance(nested, GraphQLInputObjectType):
                    inner = validation.model_fields.get(snake(name))
                    found = inner_model(inner.annotation) if inner is not None else None
                    if found is not None:
                        self._validated.setdefault(nested.name, found)
                required = (
                    isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
                )
                default = (
                    ...
                    if required
                    else (None if field.default_value is Undefined else field.default_value)
                )
                bare = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
                annotation = (
                    self._non_null(bare)
                    if validation is not None and not nullable(validation, snake(name))
                    else self.annotation(field.type)
                )
                fields[snake(name)] = (
                    annotation,
                    Field(
                        default=default,
                        description=field.description,
                        json_schema_extra=_declaring(declared.get(snake(name))),
                    ),
                )
            self._models[type_.name] = create_model(
                type_.name,
                __config__=ConfigDict(extra="forbid", title=type_.name),
                __doc__=type_.description,
                **fields,
            )
        return self._models[type_.name]


class OutputTypes:
    """Response models built from an operation's selection set, named after GraphQL types."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], type[BaseModel]] = {}
        self._names: set[str] = set()

    def for_selection(
        self,
        type_: Any,
        selection: SelectionSetNode | None,
        fragments: dict[str, FragmentDefinitionNode],
        *,
        resource: bool = False,
    ) -> Any:
        if isinstance(type_, GraphQLNonNull):
            return self._non_null(type_.of_type, selection, fragments, resource)
        return self._non_null(type_, selection, fragments, resource) | None

    def _non_null(
        self,
        type_: Any,
        selection: SelectionSetNode | None,
        fragments: dict[str, FragmentDefinitionNode],
        resource: bool,
    ) -> Any:
        if isinstance(type_, GraphQLList):
            return list[self.for_selection(type_.of_type, selection, fragments, resource=resource)]  # type: ignore[misc]
        if isinstance(type_, GraphQLEnumType):
            return Literal[tuple(rest_enum(v) for v in type_.values)]
        if isinstance(type_, GraphQLObjectType):
            assert selection is not None
            return self.object_model(type_, selection, fragments, resource=resource)
        return _scalar(_OUTPUT, type_)

    def object_model(
        self,
        type_: GraphQLObjectType,
        selection: SelectionSetNode,
        fragments: dict[str, FragmentDefinitionNode],
        *,
        resource: bool = False,
    ) -> type[BaseModel]:
        """``resource`` models (what a route returns, and list items) also carry ``object``."""
        fields: dict[str, Any] = {}
        if resource:
            fields["object"] = (Literal[snake(type_.name)], Field(description="The object's type."))
        for node in _fields(selection, fragments):
            definition = type_.fields[node.name.value]
            key = node.alias.value if node.alias else node.name.value
            fields[key] = (
                self.for_selection(definition.type, node.selection_set, fragments),
                Field(description=definition.description),
            )
        signature = repr(sorted((k, repr(v[0])) for k, v in fields.items()))
        cache_key = (type_.name, signature)
        if cache_key not in self._models:
            name = self._name(type_.name, resource=resource)
            self._names.add(name)
            self._models[cache_key] = create_model(
                name, __config__=ConfigDict(title=name), __doc__=type_.description, **fields
            )
        return self._models[cache_key]

    def _name(self, type_name: str, *, resource: bool) -> str:
        """The GraphQL type's name, so generated clients keep their type names whatever routes
        are added. Its one other shape is named for what sets it apart: a resource embedded in
        another answer (``NewApiKey.api_key``) has no ``object`` member. Any further shape is
        refused at start-up: the operations must select the type alike (one fragment)."""
        name = type_name if resource or type_name not in self._names else f"{type_name}Embedded"
        if name in self._names:
            raise RuntimeError(
                f"the persisted operations select {type_name} in more than one way: "
                "select it through one fragment, so its REST schema has one name"
            )
        return name


Recase = Callable[[Any], Any]


def _unwrap(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _each(convert: Recase) -> Recase:
    def each(value: Any) -> Any:
        if isinstance(value, list):
            return [each(v) for v in value]
        return None if value is None else convert(value)

    return each


def recaser(
    type_: GraphQLObjectType,
    selection: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> Recase | None:
    """What turns an operation's data (its selection of ``type_``) into REST spelling: every
    enum value through ``rest_enum``. ``None`` when the selection holds no enum."""
    converters: dict[str, Recase] = {}
    for node in _fields(selection, fragments):
        field_type = _unwrap(type_.fields[node.name.value].type)
        key = node.alias.value if node.alias else node.name.value
        if isinstance(field_type, GraphQLEnumType):
            converters[key] = _each(rest_enum)
        elif isinstance(field_type, GraphQLObjectType) and node.selection_set is not None:
            inner = recaser(field_type, node.selection_set, fragments)
            if inner is not None:
                converters[key] = _each(inner)
    if not converters:
        return None

    def recase(data: dict[str, Any]) -> dict[str, Any]:
        return {k: converters[k](v) if k in converters else v for k, v in data.items()}

    return recase


def rest_value(type_: Any, value: Any) -> Any:
    """An input value in GraphQL spelling (a sample input) as a REST body spells it: keys in
    snake_case, enum values through ``rest_enum``."""
    inner = _unwrap(type_)
    if isinstance(value, list):
        return [rest_value(inner, v) for v in value]
    if value is None:
        return None
    if isinstance(inner, GraphQLEnumType):
        return rest_enum(value)
    if isinstance(inner, GraphQLInputObjectType) and isinstance(value, dict):
        return {
            snake(k): rest_value(inner.fields[k].type, v) if k in inner.fields else v
            for k, v in value.items()
        }
    return value


def _fields(
    selection: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    out: list[FieldNode] = []
    for node in selection.selections:
        if isinstance(node, FieldNode):
            out.append(node)
        elif isinstance(node, FragmentSpreadNode):
            out += _fields(fragments[node.name.value].selection_set, fragments)
    return out
