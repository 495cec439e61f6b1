"""Which GraphQL request an ``Idempotency-Key`` applies to: one mutation, one root field.

The key means on GraphQL what it means on REST: one request, one write, answered once. So it
applies to a POST whose selected operation is a mutation with exactly one root field; a query,
a document running several mutations, a batch or a GET gets a 400
``idempotency_key_not_applicable`` rather than a key silently ignored. A document GraphQL
refuses before it selects an operation (a syntax error, over the size or token bounds, no
operation chosen) is left to GraphQL's own answer: nothing runs, so there is nothing to claim.

Only the decision lives here; the claim, replay and storage are the REST facade's
(``rest_facade/idempotency.py``), wired to the endpoint by ``app.GraphQLEndpoint``.
"""

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)

from asteri.kit.errors import BadRequest
from asteri.kit.settings import Settings
from asteri.schema.persisted import Registry

__all__ = ["NOT_APPLICABLE", "mutation_field", "not_applicable", "root_fields"]

NOT_APPLICABLE = "idempotency_key_not_applicable"


def not_applicable(detail: str) -> BadRequest:
    return BadRequest(detail, reason=NOT_APPLICABLE)


def mutation_field(
    registry: Registry, query: str | None, operation_name: str | None, settings: Settings
) -> str | None:
    """The root field the request's one mutation runs (``createApiKey``), or None when GraphQL
    refuses the document before running anything. Raises the 400 when the key does not apply.

    A free-text document is parsed within the same size and token bounds as
    ``DocumentLimits`` applies, before anything else reads it."""
    document = registry.document_for(query) or _parsed(query, settings)
    if document is None:
        return None
    operation = _selected(document, operation_name)
    if operation is None:
        return None
    if operation.operation is not OperationType.MUTATION:
        raise not_applicable(
            f"`Idempotency-Key` applies to a mutation; this operation is a "
            f"{operation.operation.value}, which writes nothing. Send it without the key."
        )
    fields = _root_fields(operation.selection_set, _fragments(document))
    if len(fields) != 1:
        raise not_applicable(
            f"`Idempotency-Key` applies to a mutation with exactly one root field; this one has "
            f"{len(fields)}."
            + (" Send each as its own request, with its own key." if len(fields) > 1 else "")
        )
    return next(iter(fields.values()))


def root_fields(document: DocumentNode, operation_name: str | None) -> frozenset[str]:
    """The root fields (by name) of the operation GraphQL would run, through fragments and
    introspection aside; none when the document selects no operation."""
    operation = _selected(document, operation_name)
    if operation is None:
        return frozenset()
    return frozenset(_root_fields(operation.selection_set, _fragments(document)).values())


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _parsed(query: str | None, settings: Settings) -> DocumentNode | None:
    if query is None or len(query.encode()) > settings.max_document_bytes:
        return None
    try:
        return parse(query, max_tokens=settings.max_document_tokens)
    except GraphQLSyntaxError:
        return None


def _selected(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation GraphQL would run: the one named, or the only one."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        return next((o for o in operations if o.name is not None and o.name.value == name), None)
    return operations[0] if len(operations) == 1 else None


def _root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> dict[str, str]:
    """Response key → field name of each root field, through fragments; introspection
    (``__typename``) aside. Fields under one response key are one execution, as GraphQL
    merges them. Each fragment is walked once (a spread repeated at every level of a chain
    would otherwise double the walk per level), and a cycle stops (validation refuses it)."""
    walked: dict[str, dict[str, str]] = {}

    def walk(selections: SelectionSetNode) -> dict[str, str]:
        found: dict[str, str] = {}
        for node in selections.selections:
            if isinstance(node, FieldNode):
                if not node.name.value.startswith("__"):
                    found.setdefault(
                        node.alias.value if node.alias else node.name.value, node.name.value
                    )
            elif isinstance(node, InlineFragmentNode):
                found |= walk(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                if name not in walked and name in fragments:
                    walked[name] = {}  # in progress: a cycle finds it empty
                    walked[name] = walk(fragments[name].selection_set)
                found |= walked.get(name, {})
        return found

    return walk(selection_set)
