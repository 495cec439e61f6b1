"""Persisted reads compiled ahead of time: the operation's root resolver, then a precomputed
projection of its selection, with no per-field GraphQL execution. Used by REST read routes and
by persisted queries sent to the GraphQL endpoint.

graphql-core resolves every selected field of every row one by one (about 1,500 calls for a
list of 50 customers), which dominates a REST list. For a read whose nested selection is only
plain stored fields — no resolvers, no field permissions, no arguments or directives below the
root — the result is fully determined by the root resolver's DTO, so we call that resolver
(the same function, same tenant filter) and project the DTO with a plan built at start-up.
Authorization is unchanged: the operation's scopes (read from the same ``@requiresScope``
directives) are required before the call, exactly what the root field's permission checks.
Operations that do not qualify run through the schema as before; the parity tests hold both
paths to the same answers.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import Enum
from types import SimpleNamespace
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import (
    StrawberryList,
    StrawberryObjectDefinition,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField

from asteri.schema.persisted import PersistedOperation

__all__ = ["CompiledRead", "CompiledReads", "compile_read"]

Convert = Callable[[Any], Any]


class NotCompilable(Exception):
    """The operation needs real GraphQL execution (a resolver or a check below the root)."""


def _identity(value: Any) -> Any:
    return value


def _enum_name(value: Enum) -> str:
    return value.name


@dataclass(frozen=True)
class _Projection:
    fields: tuple[tuple[str, str, Convert], ...]  # (response key, attribute, conversion)

    def __call__(self, obj: Any) -> dict[str, Any]:
        return {key: convert(getattr(obj, attr)) for key, attr, convert in self.fields}


class _Compiler:
    def __init__(self, schema: Any, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments

    def field_name(self, field: StrawberryField) -> str:
        return str(self.schema.config.name_converter.get_graphql_name(field))

    def convert(self, type_: Any, selection: SelectionSetNode | None) -> Convert:
        if isinstance(type_, StrawberryOptional):
            inner = self.convert(type_.of_type, selection)
            return lambda v: None if v is None else inner(v)
        if isinstance(type_, StrawberryList):
            item = self.convert(type_.of_type, selection)
            return lambda v: [item(x) for x in v]
        if isinstance(type_, StrawberryEnumDefinition):
            return _enum_name
        if has_object_definition(type_):
            if selection is None:
                raise NotCompilable("object without selection")
            return self.projection(type_.__strawberry_definition__, selection)
        scalar = self.schema.schema_converter.scalar_registry.get(type_)
        serialize = getattr(scalar, "serialize", None)
        return serialize or _identity  # e.g. DateTime → ISO 8601 text, as the executor does

    def projection(
        self, definition: StrawberryObjectDefinition, selection: SelectionSetNode
    ) -> _Projection:
        by_name = {self.field_name(f): f for f in definition.fields}
        planned = []
        for node in self.nodes(selection):
            field = by_name.get(node.name.value)
            if field is None or field.base_resolver is not None or field.extensions:
                raise NotCompilable(node.name.value)
            if node.arguments or node.directives:
                raise NotCompilable(node.name.value)
            key = node.alias.value if node.alias else node.name.value
            planned.append((key, field.python_name, self.convert(field.type, node.selection_set)))
        return _Projection(tuple(planned))

    def nodes(self, selection: SelectionSetNode) -> list[FieldNode]:
        out: list[FieldNode] = []
        for node in selection.selections:
            if isinstance(node, FieldNode):
                out.append(node)
            elif isinstance(node, FragmentSpreadNode) and not node.directives:
                out += self.nodes(self.fragments[node.name.value].selection_set)
            else:
                raise NotCompilable("inline fragment or directive")
        return out


def _argument_value(type_: Any, value: Any) -> Any:
    """A REST value (already validated) → the Python value strawberry would pass."""
    if value is None:
        return None
    if isinstance(type_, StrawberryOptional):
        return _argument_value(type_.of_type, value)
    if isinstance(type_, StrawberryList):
        return [_argument_value(type_.of_type, v) for v in value]
    if isinstance(type_, StrawberryEnumDefinition):
        return type_.wrapped_cls[value]
    if has_object_definition(type_):
        definition = type_.__strawberry_definition__
        types = {f.python_name: f.type for f in definition.fields}
        return type_(**{k: _argument_value(types[k], v) for k, v in value.items()})
    return value


@dataclass(frozen=True)
class CompiledRead:
    op: PersistedOperation
    resolver: Callable[..., Any]
    arguments: list[Any]  # the root field's StrawberryArguments
    project: Convert
    root_node: FieldNode
    definition: OperationDefinitionNode
    nullable: bool

    @property
    def response_key(self) -> str:
        node = self.root_node
        return node.alias.value if node.alias else node.name.value

    async def run(self, context: Any, arguments: dict[str, Any]) -> Any:
        """REST: ``arguments`` are Python names with validated REST values."""
        types = {a.python_name: a.type for a in self.arguments}
        kwargs = {name: _argument_value(types[name], value) for name, value in arguments.items()}
        result = await self.resolver(None, SimpleNamespace(context=context), **kwargs)
        return self.project(result)

    async def execute(self, schema: Any, context: ExecutionContext) -> ExecutionResult | None:
        """GraphQL: coerce the variables as graphql-core would, then answer without the
        executor. None when the variables are invalid: the executor then reports it."""
        coerced = get_variable_values(
            schema._schema, self.definition.variable_definitions or (), context.variables or {}
        )
        if isinstance(coerced, list):
            return None
        root_type = schema._schema.query_type
        raw = get_argument_values(
            root_type.fields[self.root_node.name.value], self.root_node, coerced
        )
        key = self.response_key
        try:
            for scope in self.op.scopes:
                context.context.principal.require(scope)
            kwargs = convert_arguments(
                raw,
                self.arguments,
                scalar_registry=schema.schema_converter.scalar_registry,
                config=schema.config,
            )
            dto = await self.resolver(None, SimpleNamespace(context=context.context), **kwargs)
            return ExecutionResult(data={key: self.project(dto)})
        except Exception as exc:  # the executor's contract: a field error, shaped later
            error = GraphQLError(str(exc), nodes=[self.root_node], path=[key], original_error=exc)
            return ExecutionResult(data=None if not self.nullable else {key: None}, errors=[error])


def compile_read(
    schema: Any, op: PersistedOperation, document: DocumentNode
) -> CompiledRead | None:
    """The compiled form of a read operation, or None when it must run through the schema."""
    if op.operation_type.value != "query":
        return None
    query = schema.get_type_by_name("Query")
    assert isinstance(query, StrawberryObjectDefinition)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    compiler = _Compiler(schema, fragments)
    root = next(f for f in query.fields if compiler.field_name(f) == op.root_field)
    if root.base_resolver is None or not root.is_async:
        return None
    definition = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    node = next(n for n in definition.selection_set.selections if isinstance(n, FieldNode))
    resolver = root.base_resolver.wrapped_func
    if not callable(resolver) or node.directives:
        return None
    try:
        project = compiler.convert(root.type, node.selection_set)
    except NotCompilable:
        return None
    return CompiledRead(
        op=op,
        resolver=resolver,
        arguments=list(root.arguments),
        project=project,
        root_node=node,
        definition=definition,
        nullable=isinstance(root.type, StrawberryOptional),
    )


class CompiledReads(SchemaExtension):
    """Persisted GraphQL queries that compile answer here; strawberry then skips execution."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        schema = context.schema
        compiled = schema.compiled_reads.get(id(context.graphql_document))  # type: ignore[attr-defined]
        if compiled is not None and context.operation_name in (None, compiled.op.name):
            result = await compiled.execute(schema, context)
            if result is not None:
                context.result = result
        yield
