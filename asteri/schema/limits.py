"""What a free-text GraphQL document may cost, decided before the expensive steps.

Parsing and validating are synchronous and grow with the document, so a document could hold
the event loop; each bound below is checked before the step it protects, cheapest first:

1. its size in bytes, before anything reads it;
2. its tokens, counted by the parser itself, which stops at the limit;
3. its selections (fields, fragments and their spreads) and its fragments, before
   validation, whose overlap check grows with the square of the selections and which spends
   the most on each fragment; and its shape, as cheaply: no empty selection set, no fragment
   that spreads itself (directly or not), at most ``MAX_EXPANSIONS`` selections with every
   spread expanded (counted once per fragment, not walked: a fragment spreading another twice,
   thirty deep, is small as text and a billion fields expanded), and at most
   ``MAX_SAME_NAME`` fields answering under one name in one selection set (validation
   compares those in pairs);
4. several operations and no ``operationName`` (the spec requires an error, not the first);
5. without any credential, anything but a small introspection (at most
   ``MAX_FREE_INTROSPECTION`` root fields, as GraphiQL sends) spends the client address's
   budget of anonymous documents (``ASTERI_ANONYMOUS_DOCUMENTS_PER_MINUTE``): one is answered
   401, many are a 429 before validation;
6. the cost walk visits at most ``MAX_EXPANSIONS`` field selections (already bounded by 3;
   kept as its own guard);
7. its cost, before execution: the number of objects it can return, each list multiplied by
   its ``first`` (Shopify's calculated cost). A document over ``max_query_cost`` is refused;
   under it, it spends ``ceil(cost / OBJECTS_PER_UNIT)`` units of the key's rate limit (one
   already spent by the request itself), and the response reports it in
   ``extensions.cost``.

Each refusal is a 400 (or the key's 429) whose ``reason`` names the bound, with ``limit`` and
the document's own value. Persisted operations are ours and known: only their cost is counted.
"""

import math
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    parse,
)
from strawberry.extensions import SchemaExtension

from asteri.authz.authenticate import NO_CREDENTIAL
from asteri.authz.limits import spend, spend_anonymous_document
from asteri.authz.principal import Principal
from asteri.kit.errors import ApiError, BadRequest, Unauthenticated
from asteri.kit.settings import Settings, get_settings
from asteri.schema.context import REFUSED, client_address

__all__ = ["MAX_EXPANSIONS", "OBJECTS_PER_UNIT", "DocumentLimits", "Unbounded", "query_cost"]

OBJECTS_PER_UNIT = 100  # objects a request may return for each unit of its key's rate limit
_PARSE_ABORTED = "tokens. Parsing aborted."


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_tokens: int
    max_selections: int
    max_fragments: int
    max_cost: int

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            settings.max_document_bytes,
            settings.max_document_tokens,
            settings.max_document_selections,
            settings.max_document_fragments,
            settings.max_query_cost,
        )


def _refusal(reason: str, detail: str, **values: Any) -> GraphQLError:
    error = BadRequest(detail, reason=reason, **values)
    return GraphQLError(error.detail, original_error=error)


def _count_selections(document: DocumentNode) -> int:
    count = 0
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode | FragmentSpreadNode | FragmentDefinitionNode):
            count += 1
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack += selection_set.selections
    return count


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def _introspection_only(document: DocumentNode) -> bool:
    """Every operation selects only ``__schema``, ``__type`` or ``__typename`` at its root,
    and no more than ``MAX_FREE_INTROSPECTION`` of them in all: what a client such as GraphiQL
    sends, not a hundred ``__type`` lookups."""
    roots = [
        selection
        for operation in _operations(document)
        for selection in operation.selection_set.selections
    ]
    return len(roots) <= MAX_FREE_INTROSPECTION and all(
        isinstance(selection, FieldNode) and selection.name.value.startswith("__")
        for selection in roots
    )


class Unbounded(Exception):
    """The document's fragments expand to more than ``MAX_EXPANSIONS`` field selections (a
    fragment that spreads another twice, thirty deep, is a billion): not counted further."""


MAX_EXPANSIONS = 10_000  # selections, fragments expanded, that a document may amount to
MAX_SAME_NAME = 20  # fields answering under one response name in one selection set
MAX_FREE_INTROSPECTION = 3  # root fields of an introspection that spends no anonymous budget


def _response_name(node: FieldNode) -> str:
    return node.alias.value if node.alias is not None else node.name.value


def _shape(document: DocumentNode) -> GraphQLError | None:
    """Empty selection sets, fragment cycles, the expanded size and repeated response names,
    found in one pass over the text's nodes plus one over the fragments' spread graph: the
    work grows with the document as written, never with its expansion."""
    own: dict[str | None, int] = {}  # a fragment's (None: the operations') own selections
    spreads: dict[str | None, list[str]] = {}
    stack: list[tuple[Any, str | None]] = [
        (d, d.name.value if isinstance(d, FragmentDefinitionNode) else None)
        for d in document.definitions
    ]
    while stack:
        node, owner = stack.pop()
        selection_set = getattr(node, "selection_set", None)
        if isinstance(node, FieldNode | FragmentSpreadNode):
            own[owner] = own.get(owner, 0) + 1
        if isinstance(node, FragmentSpreadNode):
            spreads.setdefault(owner, []).append(node.name.value)
        if selection_set is None:
            continue
        if not selection_set.selections:
            return _refusal("empty_selection", "A selection set selects nothing: `{ }`.")
        names: dict[str, int] = {}
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = _response_name(selection)
                names[name] = names.get(name, 0) + 1
                if names[name] > MAX_SAME_NAME:
                    return _refusal(
                        "too_many_same_name",
                        f"{names[name]} fields answer as `{name}` in one selection set; at "
                        f"most {MAX_SAME_NAME} (alias them).",
                        limit=MAX_SAME_NAME,
                        fields=names[name],
                    )
        stack += [(selection, owner) for selection in selection_set.selections]
    expanded: dict[str | None, int] = {}
    visiting: set[str | None] = set()

    def size(owner: str | None) -> int:  # spreads are at most 250: the recursion is shallow
        if owner in expanded:
            return expanded[owner]
        if owner in visiting:
            raise _Cycle(owner)
        visiting.add(owner)
        total = own.get(owner, 0) + sum(size(f) for f in spreads.get(owner, []) if f in own)
        visiting.discard(owner)
        expanded[owner] = total
        return total

    try:
        for owner in list(own):  # every fragment, used or not: a cycle is refused anywhere
            size(owner)
        total = expanded.get(None, 0)  # what the operations amount to, spreads expanded
    except _Cycle as cycle:
        return _refusal(
            "fragment_cycle",
            f"Fragment `{cycle.fragment}` spreads itself (through its spreads).",
            fragment=cycle.fragment,
        )
    if total > MAX_EXPANSIONS:
        return _refusal(
            "too_many_expansions",
            f"The document's fragments expand to {total} selections; at most {MAX_EXPANSIONS}.",
            limit=MAX_EXPANSIONS,
            expansions=total,
        )
    return None


class _Cycle(Exception):
    def __init__(self, fragment: str | None) -> None:
        super().__init__(fragment)
        self.fragment = fragment


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    *,
    max_expansions: int = MAX_EXPANSIONS,
) -> int:
    """The number of objects the operation can return: every object-valued field counts the
    objects it holds (``first`` of them for a paginated field, the ``nodes`` of a connection;
    one otherwise), times the objects of every field above it. Fields the schema does not
    know count nothing (validation refuses them)."""
    operations = _operations(document)
    operation = next(
        (o for o in operations if o.name is not None and o.name.value == operation_name),
        operations[0] if operations else None,
    )
    if operation is None:
        return 0
    root = schema.mutation_type if operation.operation.value == "mutation" else schema.query_type
    if root is None:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    defaults = {
        v.variable.name.value: v.default_value for v in operation.variable_definitions or ()
    }
    given = variables or {}

    def first_of(node: FieldNode, field: Any) -> int:
        argument = next((a for a in node.arguments or () if a.name.value == "first"), None)
        value: Any = field.args["first"].default_value
        if argument is not None:
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                name = argument.value.name.value
                default = defaults.get(name)
                value = given.get(
                    name, int(default.value) if isinstance(default, IntValueNode) else value
                )
        return value if isinstance(value, int) and value > 0 else 0

    visits = 0

    def fields(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> Iterator[FieldNode]:
        nonlocal visits
        for node in selection_set.selections if selection_set is not None else ():
            if isinstance(node, FieldNode):
                visits += 1
                if visits > max_expansions:
                    raise Unbounded
                yield node
            elif isinstance(node, InlineFragmentNode):
                yield from fields(node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode):
                fragment = fragments.get(node.name.value)
                if fragment is not None and node.name.value not in seen:
                    yield from fields(fragment.selection_set, seen | {node.name.value})

    def cost(selection_set: SelectionSetNode | None, parent: GraphQLObjectType, above: int) -> int:
        total = 0
        for node in fields(selection_set, frozenset()):
            field = parent.fields.get(node.name.value)
            inner = get_named_type(field.type) if field is not None else None
            if field is None or not isinstance(inner, GraphQLObjectType):
                continue
            objects = above * (first_of(node, field) if "first" in field.args else 1)
            if "nodes" in inner.fields and "pageInfo" in inner.fields:  # a connection
                nodes_type = get_named_type(inner.fields["nodes"].type)
                for child in fields(node.selection_set, frozenset()):
                    if child.name.value == "nodes" and isinstance(nodes_type, GraphQLObjectType):
                        total += objects + cost(child.selection_set, nodes_type, objects)
            else:
                total += objects + cost(node.selection_set, inner, objects)
        return total

    return cost(operation.selection_set, root, 1)


class DocumentLimits(SchemaExtension):
    """After ``Authenticate`` and ``PersistedDocuments``: a refused or persisted operation is
    already decided; any other document is parsed here, within the bounds."""

    cost: int | None = None

    def _limits(self) -> Limits:
        settings = getattr(self.execution_context.context, "settings", None)
        return Limits.of(settings if isinstance(settings, Settings) else get_settings())

    async def on_operation(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if execution.pre_execution_errors is None and execution.graphql_document is None:
            refusal = self._parse(execution.query or "", self._limits())
            if refusal is None and execution.graphql_document is not None:
                refusal = await self._anonymous(execution.graphql_document)
            if refusal is not None:
                execution.graphql_document = REFUSED
                execution.pre_execution_errors = [refusal]
        yield

    async def _anonymous(self, document: DocumentNode) -> GraphQLError | None:
        """A document sent without a credential spends its address's budget, unless it only
        introspects (what GraphiQL does before a key is set)."""
        context = self.execution_context.context
        auth = getattr(context, "auth", None)
        http = getattr(context, "_http", None)
        if not (isinstance(auth, Unauthenticated) and auth.extra.get("reason") == NO_CREDENTIAL):
            return None
        if http is None or _introspection_only(document):
            return None
        settings: Settings = context.settings
        refused, _ = await spend_anonymous_document(
            http.app.state.rate_limiter,
            client_address(http),
            settings.anonymous_documents_per_minute,
        )
        if refused is None:
            return None
        http.state.response_headers = [(b"retry-after", str(refused.extra["retry_after"]).encode())]
        return GraphQLError(refused.detail, original_error=refused)

    def _parse(self, query: str, limits: Limits) -> GraphQLError | None:
        """Parse within the bounds (into the execution context), or the refusal."""
        execution = self.execution_context
        size = len(query.encode())
        if size > limits.max_bytes:
            return _refusal(
                "document_too_large",
                f"The document is {size} bytes; at most {limits.max_bytes} are parsed.",
                limit=limits.max_bytes,
                bytes=size,
            )
        try:
            document = parse(query, max_tokens=limits.max_tokens)
        except GraphQLSyntaxError as error:
            if _PARSE_ABORTED in error.message:
                return _refusal(
                    "too_many_tokens",
                    f"The document has more than {limits.max_tokens} tokens.",
                    limit=limits.max_tokens,
                    tokens=f">{limits.max_tokens}",
                )
            return None  # strawberry parses it again and reports the syntax error as usual
        fragments = sum(isinstance(d, FragmentDefinitionNode) for d in document.definitions)
        if fragments > limits.max_fragments:
            return _refusal(
                "too_many_fragments",
                f"The document defines {fragments} fragments; at most {limits.max_fragments}.",
                limit=limits.max_fragments,
                fragments=fragments,
            )
        selections = _count_selections(document)
        if selections > limits.max_selections:
            return _refusal(
                "too_many_selections",
                f"The document has {selections} selections; at most {limits.max_selections}.",
                limit=limits.max_selections,
                selections=selections,
            )
        shape = _shape(document)
        if shape is not None:
            return shape
        operations = _operations(document)
        if len(operations) > 1 and not execution.operation_name:
            return _refusal(
                "operation_name_required",
                f"The document has {len(operations)} operations: say which in `operationName`.",
                operations=len(operations),
            )
        execution.graphql_document = document
        return None

    async def on_validate(self) -> AsyncIterator[None]:
        """Before validation (so a refused document is not validated at all): its cost."""
        execution = self.execution_context
        document = execution.graphql_document
        if document is not None and document is not REFUSED and not execution.pre_execution_errors:
            try:
                cost = query_cost(
                    execution.schema._schema,
                    document,
                    execution.operation_name,
                    execution.variables,
                )
            except Unbounded:
                refusal: GraphQLError | None = _refusal(
                    "too_many_expansions",
                    f"The document's fragments expand to more than {MAX_EXPANSIONS} field "
                    "selections.",
                    limit=MAX_EXPANSIONS,
                    expansions=f">{MAX_EXPANSIONS}",
                )
            else:
                refusal = await self._charge(cost)
            if refusal is not None:
                execution.pre_execution_errors = [refusal]
        yield

    async def _charge(self, cost: int) -> GraphQLError | None:
        self.cost = cost
        limits = self._limits()
        if cost > limits.max_cost:
            return _refusal(
                "query_too_costly",
                f"The document can return {cost} objects; at most {limits.max_cost}. Ask for "
                "fewer with `first`, or split it.",
                limit=limits.max_cost,
                cost=cost,
            )
        context = self.execution_context.context
        principal = getattr(context, "auth", None)
        http = getattr(context, "_http", None)
        extra = math.ceil(cost / OBJECTS_PER_UNIT) - 1
        if extra <= 0 or not isinstance(principal, Principal) or http is None:
            return None
        charged, decision = await spend(http.app.state.rate_limiter, principal, extra)
        http.state.response_headers = decision.headers()
        context.rate_limit = decision
        if isinstance(charged, ApiError):
            return GraphQLError(charged.detail, original_error=charged)
        return None

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        units = max(1, math.ceil(self.cost / OBJECTS_PER_UNIT))
        return {"cost": {"objects": self.cost, "limit": self._limits().max_cost, "units": units}}
