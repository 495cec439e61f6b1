"""Assemble the schema from per-resource query and mutation types.

Adding a resource = one line in ``QUERIES`` and one in ``MUTATIONS``.
"""

from functools import lru_cache
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from asteri.kit.settings import get_settings
from asteri.schema.api_key import ApiKeyMutations, ApiKeyQueries
from asteri.schema.compiled import CompiledRead, CompiledReads, compile_read
from asteri.schema.context import Authenticate
from asteri.schema.customer import CustomerLifecycle, CustomerMutations, CustomerQueries
from asteri.schema.errors import ErrorShaping, log_incidents
from asteri.schema.persisted import PersistedDocuments, Registry, ValidateUnlessDecided
from asteri.schema.scalars import SCALARS
from asteri.schema.service import ServiceMutations, ServiceQueries
from asteri.schema.team_member import (
    TeamMemberLifecycle,
    TeamMemberMutations,
    TeamMemberQueries,
)
from asteri.schema.viewer import ViewerQueries

__all__ = ["AsteriSchema", "build_schema", "limit_rules", "print_sdl"]

QUERIES: tuple[type, ...] = (
    ViewerQueries,
    CustomerQueries,
    TeamMemberQueries,
    ServiceQueries,
    ApiKeyQueries,
)
MUTATIONS: tuple[type, ...] = (
    CustomerMutations,
    CustomerLifecycle,
    TeamMemberMutations,
    TeamMemberLifecycle,
    ServiceMutations,
    ApiKeyMutations,
)


class AsteriSchema(strawberry.Schema):
    """The schema, plus its persisted operations (validated against it at build time)."""

    persisted: Registry
    compiled_reads: dict[int, CompiledRead]  # by id() of a persisted document

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Only unexpected errors are logged (with traceback); 401/403/404 are not incidents."""
        log_incidents(errors)


def limit_rules(*, max_depth: int, max_aliases: int) -> tuple[Any, ...]:
    """Depth and alias rules built once, so the validation cache can hit (see TECH-NOTES)."""
    return (depth_rule(max_depth, None, None), alias_rule(max_aliases))


def _as_extension(rules: tuple[Any, ...]) -> type[AddValidationRules]:
    class Limits(AddValidationRules):
        def __init__(self) -> None:
            super().__init__(list(rules))

    return Limits


@lru_cache(maxsize=4)
def build_schema(max_depth: int | None = None, max_aliases: int | None = None) -> AsteriSchema:
    """One schema per limit pair (built once); the defaults come from the settings."""
    settings = get_settings()
    rules = limit_rules(
        max_depth=max_depth or settings.max_query_depth,
        max_aliases=max_aliases or settings.max_aliases,
    )
    query: Any = merge_types("Query", QUERIES)
    mutation: Any = merge_types("Mutation", MUTATIONS)
    schema = AsteriSchema(
        query=query,
        mutation=mutation,
        # No ParserCache: it parses inside its hook, so a syntax error escapes ErrorShaping.
        # Parsing is ~0.1 ms; persisted operations skip it altogether.
        extensions=[
            Authenticate,  # first: everything after may look at the principal
            PersistedDocuments,
            CompiledReads,
            ErrorShaping,
            _as_extension(rules),
            ValidateUnlessDecided,
        ],
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
    )
    schema.persisted = Registry.load(schema._schema, rules)
    schema.compiled_reads = {
        id(op.document): compiled
        for op in schema.persisted
        if (compiled := compile_read(schema, op, op.document)) is not None
    }
    return schema


def print_sdl() -> str:
    return build_schema().as_str() + "\n"
