"""A root field's permissions, run as strawberry's executor runs them, where the executor does
not run: compiled reads (``compiled.py``) and the REST facade's pre-flight (a request refused
before it runs must not claim its Idempotency-Key).

Nothing here decides a rule: it runs the field's own ``PermissionExtension``s. The
``GraphQLResolveInfo`` the executor would build for the operation's root field is prepared at
start-up (all but the context, the variables and the root value), wrapped per request in the
schema's ``Info`` class; arguments are converted and mapped as strawberry's ``get_arguments``
does, and the extensions' ``resolve_async`` are chained as ``schema_converter.from_resolver``
chains them. So ``has_permission`` (sync or async), ``on_unauthorized``, ``fail_silently`` and
the error extensions are strawberry's own. A field this cannot run that way gets no runner
(``of`` returns None) and is left to the executor.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property, partial, reduce
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    located_error,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo
from strawberry.types import Info
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

from asteri.schema.errors import log_incidents, shape_error

__all__ = ["FieldPermissions", "LazyVariables"]

Resolve = Callable[..., Awaitable[Any]]

_TASKS: set["asyncio.Task[Any]"] = set()


async def _gather(values: Sequence[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*values))


def _track(values: Sequence[Any]) -> None:
    """No execution to delay here: tracked work runs to its end on the loop, kept referenced."""
    for value in values:
        if optimized_is_awaitable(value):
            task = asyncio.ensure_future(value)
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)


_HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=_track)


class LazyVariables:
    """graphql-core's ``VariableValues`` shape, coerced on first read (strawberry's
    ``Info.variable_values`` reads ``.coerced``): a REST call has no GraphQL variables until a
    permission or resolver asks for them, and then gets what the executor would have coerced."""

    def __init__(self, coerce: Callable[[], dict[str, Any]]) -> None:
        self._coerce = coerce

    @cached_property
    def coerced(self) -> dict[str, Any]:
        return self._coerce()


class FieldPermissions:
    """The permission extensions of one operation's root field, with what the executor would
    hand them. ``chain`` wraps a resolver in them; ``refusal`` runs them alone (pre-flight)."""

    def __init__(
        self,
        schema: Any,
        field: StrawberryField,
        definition: OperationDefinitionNode,
        node: FieldNode,
        fragments: dict[str, FragmentDefinitionNode],
        extensions: tuple[PermissionExtension, ...],
    ) -> None:
        parent = schema._schema.get_root_type(definition.operation)
        self.schema = schema
        self.field = field
        self.extensions = extensions
        self.node = node
        self.operation = definition
        self.fragments = fragments
        self.graphql_field = parent.fields[node.name.value]
        self.parent_type = parent
        self.response_key = node.alias.value if node.alias else node.name.value
        self.path = Path(None, self.response_key, parent.name)
        self.info_class = schema.config.info_class

    @classmethod
    def of(
        cls, schema: Any, document: DocumentNode, *, whole_chain: bool
    ) -> "FieldPermissions | None":
        """The runner of ``document``'s one root field, or None when it cannot be run exactly.

        ``whole_chain``: the permissions must be all of the field's extensions (a compiled read
        runs the whole chain instead of the executor). Otherwise the others (``Commit``) are
        left to the execution that follows, which is sound only if none reshapes arguments."""
        definition = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        selections = definition.selection_set.selections
        if len(selections) != 1 or not isinstance(selections[0], FieldNode):
            return None  # the executor would merge or skip root selections
        node = selections[0]
        if node.directives:
            return None
        root = schema.get_type_by_name(schema._schema.get_root_type(definition.operation).name)
        assert isinstance(root, StrawberryObjectDefinition)
        name_of = schema.config.name_converter.get_graphql_name
        field = next(f for f in root.fields if name_of(f) == node.name.value)
        resolver = field.base_resolver
        if resolver is None or not field.is_async:
            return None  # strawberry would run the sync chain (``resolve``) or none at all
        if resolver.root_parameter or resolver.parent_parameter:
            return None  # keep ``call`` simple: our resolvers take self and info only
        permissions = tuple(e for e in field.extensions if isinstance(e, PermissionExtension))
        others = [e for e in field.extensions if not isinstance(e, PermissionExtension)]
        if whole_chain and others:
            return None
        if any(type(e).map_arguments is not FieldExtension.map_arguments for e in others):
            return None
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        return cls(schema, field, definition, node, fragments, permissions)

    def info(
        self,
        context: Any,
        variables: dict[str, Any] | LazyVariables,
        *,
        root_value: Any = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> Info[Any, Any]:
        """What strawberry hands the field: its ``Info`` around the executor's resolve info."""
        raw = _OperationContextAwareGraphQLResolveInfo(
            self.node.name.value,
            [self.node],
            self.graphql_field.type,
            self.parent_type,
            self.path,
            self.schema._schema,
            self.fragments,
            root_value,
            self.operation,
            variables,  # type: ignore[arg-type]  # LazyVariables: graphql-core's own shape
            context,
            optimized_is_awaitable,
            None,
            _HELPERS,
            operation_extensions,  # type: ignore[arg-type]  # None when not sent, as strawberry
        )
        info: Info[Any, Any] = self.info_class(_raw_info=raw, _field=self.field)
        return info

    def coerce(self, variables: dict[str, Any] | None) -> VariableValues | None:
        """graphql-core's coercion of the operation's variables; None when they are invalid
        (the executor then answers with its own error)."""
        coerced = get_variable_values(
            self.schema._schema, self.operation.variable_definitions or (), variables or {}
        )
        return None if isinstance(coerced, list) else coerced

    def arguments(self, variables: VariableValues, info: Info[Any, Any]) -> dict[str, Any]:
        """The field's arguments as its extensions and resolver get them (``get_arguments``)."""
        raw = get_argument_values(self.graphql_field, self.node, variables)
        kwargs: dict[str, Any] = convert_arguments(
            raw,
            self.field.arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
            info=info,
        )
        for extension in self.field.extensions:
            kwargs = extension.map_arguments(kwargs)
        return kwargs

    def chain(self, resolve: Resolve) -> Resolve:
        """``resolve`` inside the permissions, nested as strawberry nests field extensions (the
        last listed outermost). Built once; called as ``chain(source, info, **kwargs)``."""
        return reduce(
            lambda inner, extension: partial(extension.resolve_async, inner),
            self.extensions,
            resolve,
        )

    def call(self, *, rows: Callable[[], Any] | None = None) -> Resolve:
        """The field's resolver as strawberry calls it (``field.get_result``), ``info`` passed
        as the resolver asks; within ``rows()`` when given (compiled reads)."""
        resolver = self.field.base_resolver
        assert resolver is not None
        takes_self = resolver.self_parameter is not None
        info_name = resolver.info_parameter.name if resolver.info_parameter else None
        field = self.field

        async def resolve(source: Any, info: Info[Any, Any], **kwargs: Any) -> Any:
            if info_name is not None:
                kwargs[info_name] = info
            args = [source] if takes_self else []
            if rows is None:
                return await field.get_result(source, info, args, kwargs)
            with rows():
                return await field.get_result(source, info, args, kwargs)

        return resolve

    @cached_property
    def _preflight(self) -> Resolve:
        async def reached(source: Any, info: Info[Any, Any], **kwargs: Any) -> Any:
            return None

        return self.chain(reached)

    async def refusal(self, context: Any, variables: dict[str, Any] | None) -> GraphQLError | None:
        """The error the field's permissions answer this request with, shaped as the executor's
        would be; None when they let it through (or refuse silently: the execution then answers
        as the field would), or when the variables are invalid (the execution reports that)."""
        coerced = self.coerce(variables)
        if coerced is None:
            return None
        info = self.info(context, coerced.coerced)
        try:
            await self._preflight(None, info, **self.arguments(coerced, info))
        except Exception as exc:  # what the executor would turn into this field's error
            error = located_error(exc, [self.node], [self.response_key])
            log_incidents([error])
            return shape_error(error, getattr(context, "request_id", None))
        return None
