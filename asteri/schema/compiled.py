"""Persisted reads compiled ahead of time: the operation's root resolver, then a precomputed
projection of its selection, with no per-field GraphQL execution. Used by REST read routes and
by persisted queries sent to the GraphQL endpoint.

graphql-core resolves every selected field of every row one by one (about 1,500 calls for a
list of 50 customers), which dominates a REST list. For a read whose nested selection is only
plain stored fields — no resolvers, no field permissions, no arguments or directives below the
root — the result is fully determined by the root resolver's rows, so we call that resolver
(the same function, same tenant filter) inside ``rows_only()`` and project its rows with a plan
built at start-up from the types' ``RowMap`` declarations: no DTO is built, no field resolved.
Authorization is unchanged and not re-implemented: the root field's own permission extensions
(``@requiresScope``, ``@requiresRole``) wrap the call as the executor would wrap it, with the
same ``Info`` (``permissions_runner.py``); a field they cannot wrap that way is not compiled.
Operations that do not qualify run through the schema as before; the parity tests hold both
paths to the same answers.
"""

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import cached_property
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    SelectionSetNode,
    located_error,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext, Info
from strawberry.types.base import (
    StrawberryList,
    StrawberryObjectDefinition,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField

from asteri.kit.errors import ApiError
from asteri.kit.naming import rest_enum, snake
from asteri.schema.permissions_runner import FieldPermissions, LazyVariables, Resolve
from asteri.schema.persisted import PersistedOperation
from asteri.schema.rowmap import row_map_of, rows_only

__all__ = ["CompiledRead", "CompiledReads", "compile_read"]

Convert = Callable[[Any], Any]


class NotCompilable(Exception):
    """The operation needs real GraphQL execution (a resolver or a check below the root)."""


def _identity(value: Any) -> Any:
    return value


def _enum_name(value: Enum) -> str:
    return value.name


def _rest_enum_name(value: Enum) -> str:
    return rest_enum(value.name)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLAIN_SCALARS = (str, int, float, bool, strawberry.ID)  # serialize is the identity for these


def _maybe(convert: Convert, value: Any) -> Any:
    return None if value is None else convert(value)


class _Compiler:
    """Selection → Python source of one function per object selection, compiled with ``exec``
    at start-up (names come from the schema, never from a request): a persisted read then costs
    one dict literal per object, about what a hand-written handler costs."""

    def __init__(
        self, schema: Any, fragments: dict[str, FragmentDefinitionNode], *, rest: bool = False
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        # REST bodies: resources carry their ``object`` member, and JSON objects' member order
        # carries no meaning, so a stored value object that is exactly its selection is
        # passed on as stored.
        self.rest = rest
        self.resource: Any = None  # the type whose objects lead with `object` (REST)
        self.env: dict[str, Any] = {"_maybe": _maybe}
        self.lines: list[str] = []

    def field_name(self, field: StrawberryField) -> str:
        return str(self.schema.config.name_converter.get_graphql_name(field))

    def constant(self, value: Any) -> str:
        name = f"_k{len(self.env)}"
        self.env[name] = value
        return name

    def function(self, body: str, *, prefix: str = "_p") -> str:
        """Declare ``def <name>(o): return <body>``; its name (defined by ``build``)."""
        name = f"{prefix}{len(self.env)}"
        self.lines.append(f"def {name}(o):\n    return {body}\n")
        self.env[name] = None  # reserves the name; build() defines it
        return name

    def build(self, name: str) -> Convert:
        source = "\n".join(self.lines)
        exec(compile(source, "<asteri compiled read>", "exec"), self.env)  # noqa: S102
        convert: Convert = self.env[name]
        return convert

    def wrap(
        self, type_: Any, selection: SelectionSetNode | None, value: str, *, stored: bool
    ) -> str:
        """The expression turning ``value`` (an expression) of ``type_`` into its response."""
        if isinstance(type_, StrawberryOptional):
            inner = self.converter(type_.of_type, selection, stored=stored)
            return value if inner is None else f"_maybe({inner}, {value})"
        if isinstance(type_, StrawberryList):
            if self.converter_is_identity(type_.of_type):
                return value
            # Inline: a comprehension with the item's expression (a dict literal for stored
            # value objects), no call per list or per item.
            var = f"x{len(self.lines)}_{len(self.env)}"
            self.env[var] = None  # reserves the name
            item = self.wrap(type_.of_type, selection, var, stored=stored)
            return f"[{item} for {var} in {value}]"
        if stored and has_object_definition(type_) and _IDENTIFIER.match(value):
            if selection is None:
                raise NotCompilable("object without selection")
            literal = self.literal(type_, selection, value, stored=True)
            copy = self.verbatim(type_, selection, value)
            if self.rest and literal == copy:
                names = self.constant(
                    frozenset(f.python_name for f in self.selected(type_, selection))
                )
                return f"({value} if {value}.keys() == {names} else {literal})"
            return literal
        convert = self.converter(type_, selection, stored=stored)
        return value if convert is None else f"{convert}({value})"

    def converter(
        self, type_: Any, selection: SelectionSetNode | None, *, stored: bool
    ) -> str | None:
        """The name of a one-argument function for ``type_`` (None: the value as it is)."""
        if isinstance(type_, StrawberryOptional | StrawberryList):
            return self.function(self.wrap(type_, selection, "o", stored=stored), prefix="_w")
        if isinstance(type_, StrawberryEnumDefinition):
            return self.constant(_rest_enum_name if self.rest else _enum_name)
        if has_object_definition(type_):
            if selection is None:
                raise NotCompilable("object without selection")
            return self.projection(type_, selection, stored=stored)
        if type_ in _PLAIN_SCALARS:
            return None
        if self.rest and type_ is datetime:
            # orjson writes an aware datetime as isoformat() does (RFC 3339, `+00:00`,
            # microseconds when non-zero), in C: the REST body needs no conversion here.
            return None
        scalar = self.schema.schema_converter.scalar_registry.get(type_)
        serialize = getattr(scalar, "serialize", None)  # e.g. DateTime → ISO 8601 text
        return None if serialize is None else self.constant(serialize)

    def converter_is_identity(self, type_: Any) -> bool:
        return type_ in _PLAIN_SCALARS

    def literal(
        self, type_: Any, selection: SelectionSetNode, var: str, *, stored: bool, row: bool = False
    ) -> str:
        """A dict literal projecting ``selection`` from ``var``: by key (stored JSON), by
        attribute (an object), or through the type's ``RowMap`` (``row``). In a REST body a
        resource (a row-mapped type) leads with its ``object`` member."""
        definition: StrawberryObjectDefinition = type_.__strawberry_definition__
        row_map = row_map_of(type_) if row else None
        by_name = {self.field_name(f): f for f in definition.fields}
        items = []
        if self.rest and type_ is self.resource:
            items.append(f"'object': {snake(definition.name)!r}")
        for node in self.nodes(selection):
            field = by_name.get(node.name.value)
            if field is None or field.base_resolver is not None or field.extensions:
                raise NotCompilable(node.name.value)
            if node.arguments or node.directives:
                raise NotCompilable(node.name.value)
            key = node.alias.value if node.alias else node.name.value
            name = field.python_name
            assert _IDENTIFIER.match(name), name
            json = stored
            read = f"{var}.get({name!r})" if stored else f"{var}.{name}"
            if row_map is not None:
                kind, source = row_map.sources[name]
                json = kind == "json"
                if kind == "compute":
                    read = f"{self.constant(source)}({var})"
                else:
                    assert _IDENTIFIER.match(source), source
                    read = f"{var}.{source}"
            items.append(f"{key!r}: {self.wrap(field.type, node.selection_set, read, stored=json)}")
        return "{" + ", ".join(items) + "}"

    def selected(self, type_: Any, selection: SelectionSetNode) -> list[StrawberryField]:
        definition: StrawberryObjectDefinition = type_.__strawberry_definition__
        by_name = {self.field_name(f): f for f in definition.fields}
        return [by_name[n.name.value] for n in self.nodes(selection) if n.name.value in by_name]

    def verbatim(self, type_: Any, selection: SelectionSetNode, var: str) -> str | None:
        """The literal a stored value object would have if it were exactly its selection:
        every field, each under its own name, plain scalars only (else None)."""
        definition: StrawberryObjectDefinition = type_.__strawberry_definition__
        fields = self.selected(type_, selection)
        nodes = self.nodes(selection)
        if len(fields) != len(nodes) or {f.python_name for f in fields} != {
            f.python_name for f in definition.fields
        }:
            return None
        items = []
        for node, field in zip(nodes, fields, strict=True):
            key = node.alias.value if node.alias else node.name.value
            inner = field.type.of_type if isinstance(field.type, StrawberryOptional) else field.type
            if key != field.python_name or inner not in _PLAIN_SCALARS:
                return None
            items.append(f"{key!r}: {var}.get({field.python_name!r})")
        return "{" + ", ".join(items) + "}"

    def projection(self, type_: Any, selection: SelectionSetNode, *, stored: bool) -> str:
        """A function projecting one object; a type with a ``RowMap`` reads rows directly."""
        by_attribute = self.function(self.literal(type_, selection, "o", stored=stored))
        if stored or row_map_of(type_) is None:
            return by_attribute
        by_row = self.function(self.literal(type_, selection, "o", stored=False, row=True))
        # A DTO that did not come from a row (none today) is still projected by attribute.
        dto = self.constant(type_)
        return self.function(f"{by_attribute}(o) if isinstance(o, {dto}) else {by_row}(o)")

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
    gate: FieldPermissions  # the root field: its permissions and the Info the executor builds
    resolve: Resolve  # the root resolver inside the field's own permission chain
    arguments: list[Any]  # the root field's StrawberryArguments
    project: Convert
    nullable: bool

    @property
    def response_key(self) -> str:
        return self.gate.response_key

    @cached_property
    def argument_types(self) -> dict[str, Any]:
        return {a.python_name: a.type for a in self.arguments}

    async def run(
        self,
        context: Any,
        arguments: dict[str, Any],
        variables: Callable[[], dict[str, Any]] | None = None,
    ) -> Any:
        """REST: ``arguments`` are Python names with validated REST values; ``variables`` the
        request's GraphQL variables, coerced only if a permission or resolver reads them."""
        types = self.argument_types
        kwargs = {name: _argument_value(types[name], value) for name, value in arguments.items()}
        lazy = LazyVariables(lambda: self._coerced(variables() if variables else {}))
        return await self.answer(self.gate.info(context, lazy), kwargs)

    def _coerced(self, variables: dict[str, Any]) -> dict[str, Any]:
        coerced = self.gate.coerce(variables)
        return {} if coerced is None else coerced.coerced

    async def execute(self, context: ExecutionContext) -> ExecutionResult | None:
        """GraphQL: coerce the variables and arguments as the executor would, then answer
        without it. None when the variables are invalid: the executor then reports it."""
        gate = self.gate
        coerced = gate.coerce(context.variables)
        if coerced is None:
            return None
        info = gate.info(
            context.context,
            coerced.coerced,
            root_value=context.root_value,
            operation_extensions=context.operation_extensions,
        )
        key = self.response_key
        try:
            data = await self.answer(info, gate.arguments(coerced, info))
            return ExecutionResult(data={key: data})
        except Exception as exc:  # the executor's contract: a field error, shaped later
            error = located_error(exc, [gate.node], [key])
            return ExecutionResult(data=None if not self.nullable else {key: None}, errors=[error])

    async def answer(self, info: Info[Any, Any], kwargs: dict[str, Any]) -> Any:
        """The root field's permission chain around its resolver, then the projection. A
        principal from the key cache only ever answers with what it found: refused (403, 404)
        or finding nothing — what a revoked, expired or changed key sees, since its reads
        re-check it — the request is authenticated against the database and answered again,
        and that answer stands."""
        context = info.context
        try:
            data = self.project(await self.resolve(info.root_value, info, **kwargs))
        except ApiError as error:
            if not (context.from_cached_key and error.status in (403, 404)):
                raise
        else:
            if not (context.from_cached_key and _nothing(data)):
                return data
        await context.reauthenticate()
        return self.project(await self.resolve(info.root_value, info, **kwargs))


def _nothing(data: Any) -> bool:
    """An empty page (``nodes: []``) or no object at all."""
    return data is None or (isinstance(data, dict) and data.get("nodes") == [])


def _resource_type(type_: Any) -> Any:
    """The resource a read returns: the root's object type, or a connection's node type."""
    while isinstance(type_, StrawberryOptional | StrawberryList):
        type_ = type_.of_type
    if has_object_definition(type_):
        nodes = [f for f in type_.__strawberry_definition__.fields if f.python_name == "nodes"]
        if nodes:
            return _resource_type(nodes[0].type)
    return type_


def compile_read(
    schema: Any, op: PersistedOperation, document: DocumentNode, *, rest: bool = False
) -> CompiledRead | None:
    """The compiled form of a read operation, or None when it must run through the schema.
    ``rest``: for the REST facade's body (see ``_Compiler``), not a GraphQL response."""
    if op.operation_type.value != "query":
        return None
    # The root field's permissions run as strawberry runs them (``permissions_runner``); a
    # field whose extensions cannot run identically (anything besides permissions, say) is
    # left to the executor.
    gate = FieldPermissions.of(schema, document, whole_chain=True)
    if gate is None:
        return None
    root, node = gate.field, gate.node
    assert root.base_resolver is not None
    if not callable(root.base_resolver.wrapped_func):
        return None
    compiler = _Compiler(schema, gate.fragments, rest=rest)
    compiler.resource = _resource_type(root.type)
    try:
        name = compiler.converter(root.type, node.selection_set, stored=False)
        project = _identity if name is None else compiler.build(name)
    except NotCompilable:
        return None
    return CompiledRead(
        op=op,
        gate=gate,
        resolve=gate.chain(gate.call(rows=rows_only)),
        arguments=list(root.arguments),
        project=project,
        nullable=isinstance(root.type, StrawberryOptional),
    )


class CompiledReads(SchemaExtension):
    """Persisted GraphQL queries that compile answer here; strawberry then skips execution."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        schema = context.schema
        compiled = schema.compiled_reads.get(id(context.graphql_document))  # type: ignore[attr-defined]
        if compiled is not None and context.operation_name in (None, compiled.op.name):
            result = await compiled.execute(context)
            if result is not None:
                context.result = result
                yield
                return
        if getattr(context.context, "from_cached_key", False):
            # Authenticated from the cache for a compiled read that did not answer (invalid
            # variables, say): the executor runs with a fresh authentication instead.
            await context.context.reauthenticate()
        yield
