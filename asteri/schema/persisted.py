"""Persisted operations: the named ``.graphql`` documents in ``schema/operations``.

Parsed, validated (with the schema's own rules and limits) and analysed once, at start-up; a
broken document stops start-up. At request time the ``PersistedDocuments`` extension hands the
pre-built document to strawberry, which then skips parse and validate. The REST facade runs the
same operations, in a variant whose fields carry snake_case aliases so results come out in REST
naming with no per-request renaming.
"""

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    parse,
    print_ast,
    specified_rules,
    visit,
)
from graphql.language.visitor import VisitorAction
from strawberry.extensions import SchemaExtension, ValidationCache
from strawberry.permission import PermissionExtension
from strawberry.schema.schema import validate_document

from asteri.authz.permissions import RequiresKeyManager, RequiresScope
from asteri.authz.principal import Principal
from asteri.authz.scopes import Scope
from asteri.kit.errors import Forbidden
from asteri.kit.naming import snake

__all__ = [
    "OPERATIONS_DIR",
    "PersistedDocuments",
    "PersistedOperation",
    "Registry",
    "ValidateUnlessDecided",
    "field_requirements",
]

OPERATIONS_DIR = Path(__file__).parent / "operations"


@dataclass(frozen=True)
class PersistedOperation:
    name: str
    operation_type: OperationType
    source: str  # canonical text; GraphQL clients may send it, or only its hash
    sha256: str
    document: DocumentNode
    rest_source: str  # the same operation with snake_case aliases
    rest_document: DocumentNode
    root_field: str
    field: GraphQLField  # the root field's definition (its type, args, description)
    scopes: tuple[Scope, ...]  # every scope a field in the document requires, sorted
    # The team roles whose session alone may run it (the security center: no API key may);
    # empty when any credential holding ``scopes`` may.
    roles: tuple[str, ...] = ()


def _spreads(node: Any) -> list[str]:
    found: list[str] = []

    class Collect(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: Any) -> None:
            found.append(spread.name.value)

    visit(node, Collect())
    return found


def _fragments_used(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> list[str]:
    """Every fragment the operation needs, transitively, in first-use order."""
    used: list[str] = []
    pending: list[Any] = [operation]
    while pending:
        for name in _spreads(pending.pop()):
            if name not in used:
                used.append(name)
                pending.append(fragments[name])
    return used


class _SnakeAliases(Visitor):
    def enter_field(self, node: FieldNode, *_: Any) -> FieldNode | VisitorAction:
        wanted = snake(node.name.value)
        if node.alias is None and wanted != node.name.value:
            return dataclasses.replace(node, alias=NameNode(value=wanted))
        return None


def _requirements(
    schema: GraphQLSchema, document: DocumentNode
) -> tuple[tuple[Scope, ...], tuple[str, ...]]:
    """Every scope a field of the document requires (sorted), and the roles a field requires."""
    type_info = TypeInfo(schema)
    scopes: set[Scope] = set()
    roles: list[str] = []

    class Collect(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            needed, by_role = field_requirements(type_info.get_field_def())
            scopes.update(needed)
            roles.extend(r for r in by_role if r not in roles)

    visit(document, TypeInfoVisitor(type_info, Collect()))
    return tuple(sorted(scopes)), tuple(roles)


def field_requirements(
    definition: GraphQLField | None,
) -> tuple[tuple[Scope, ...], tuple[str, ...]]:
    """What one field's permissions declare (``@requiresScope``, ``@requiresRole``): its
    scopes and the roles whose session alone may use it."""
    strawberry_field = definition.extensions.get("strawberry-definition") if definition else None
    scopes: list[Scope] = []
    roles: list[str] = []
    for extension in getattr(strawberry_field, "extensions", []):
        if not isinstance(extension, PermissionExtension):
            continue
        for permission in extension.permissions:
            if isinstance(permission, RequiresScope) and permission.scope not in scopes:
                scopes.append(permission.scope)
            elif isinstance(permission, RequiresKeyManager):
                roles.extend(r for r in permission.roles if r not in roles)
    return tuple(scopes), tuple(roles)


class Registry:
    """Every persisted operation, by name, by sha256 and by exact source text."""

    def __init__(
        self, operations: list[PersistedOperation], files: dict[str, str] | None = None
    ) -> None:
        self.by_name = {op.name: op for op in operations}
        # Each ``.graphql`` file's text, by file name: its operations and fragments as written
        # (GraphiQL's examples, one tab a file).
        self.files = dict(files or {})
        self.by_sha256 = {op.sha256: op for op in operations}
        self._by_source = {op.source: op.document for op in operations} | {
            op.rest_source: op.rest_document for op in operations
        }
        if len(self.by_name) != len(operations):
            raise RuntimeError("two persisted operations share a name")

    def document_for(self, source: str | None) -> DocumentNode | None:
        return self._by_source.get(source) if source is not None else None

    def __iter__(self) -> Iterator[PersistedOperation]:
        return iter(self.by_name.values())

    @classmethod
    def load(
        cls, schema: GraphQLSchema, extra_rules: tuple[Any, ...], directory: Path = OPERATIONS_DIR
    ) -> "Registry":
        """Parse and validate every document; any error stops start-up, naming the operation."""
        operations: list[PersistedOperation] = []
        files: dict[str, str] = {}
        rules = (*specified_rules, *extra_rules)
        for path in sorted(directory.glob("*.graphql")):
            files[path.name] = path.read_text()
            parsed = parse(files[path.name])
            fragments = {
                d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
            }
            for definition in parsed.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                if definition.name is None:
                    raise RuntimeError(f"{path.name}: every persisted operation needs a name")
                used = _fragments_used(definition, fragments)
                document = DocumentNode(definitions=(definition, *(fragments[f] for f in used)))
                operations.append(_analyse(schema, document, definition, rules, path.name))
        return cls(operations, files)


def _analyse(
    schema: GraphQLSchema,
    document: DocumentNode,
    definition: OperationDefinitionNode,
    rules: tuple[Any, ...],
    filename: str,
) -> PersistedOperation:
    assert definition.name is not None
    name = definition.name.value
    source = print_ast(document)
    document = parse(source)
    rest_document = visit(document, _SnakeAliases())
    for variant in (document, rest_document):
        errors: list[GraphQLError] = validate_document(schema, variant, rules)
        if errors:
            raise RuntimeError(f"{filename}: persisted operation {name} is invalid: {errors[0]}")
    roots = [s for s in definition.selection_set.selections if isinstance(s, FieldNode)]
    if len(roots) != 1:
        raise RuntimeError(f"{filename}: {name} must select exactly one root field")
    root_type = schema.get_root_type(definition.operation)
    assert root_type is not None
    root_field = roots[0].name.value
    scopes, roles = _requirements(schema, document)
    return PersistedOperation(
        name=name,
        operation_type=definition.operation,
        source=source,
        sha256=hashlib.sha256(source.encode()).hexdigest(),
        document=document,
        rest_source=print_ast(rest_document),
        rest_document=rest_document,
        root_field=root_field,
        field=root_type.fields[root_field],
        scopes=scopes,
        roles=roles,
    )


class ValidateUnlessDecided(ValidationCache):
    """Strawberry's validation cache, skipped when validation was already decided: a persisted
    document (validated at start-up) or a refusal set by ``PersistedDocuments``."""

    def on_validate(self) -> Iterator[None]:
        if self.execution_context.pre_execution_errors is not None:
            yield
            return
        yield from super().on_validate()


class PersistedDocuments(SchemaExtension):
    """Skip parse and validate for persisted operations; enforce persisted-only keys."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors:  # already refused (over the rate limit)
            yield
            return
        registry: Registry = context.schema.persisted  # type: ignore[attr-defined]
        document = registry.document_for(context.query)
        if document is not None:
            context.graphql_document = document
            context.pre_execution_errors = []
        else:
            auth = getattr(context.context, "auth", None)
            if isinstance(auth, Principal) and auth.persisted_only:
                error = Forbidden(
                    "This key may run persisted operations only: send a known sha256 hash.",
                    reason="persisted_operations_only",
                )
                context.pre_execution_errors = [GraphQLError(error.detail, original_error=error)]
        yield
