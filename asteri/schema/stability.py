"""Stability on the wire: an answer from a preview says so, ``x-stability: preview``.

Each collection declares its stability once (``crud.Collection.stability``); its routes carry
it (``Route.stability``), and a GraphQL root field has the stability of the routes bound to
it (every root field is bound to one at least). The REST facade marks each answer of a preview
route, errors included; GraphQL marks an answer whose operation selects a preview root field
(``StabilityHeader``), or, replayed for an ``Idempotency-Key``, whose mutation is one. The
request-id middleware sends what was marked (``route_headers``) on whatever the answer is.
An available answer carries no such header.
"""

from collections.abc import Iterable, Iterator
from typing import Any

from strawberry.extensions import SchemaExtension

from asteri.resolvers.crud import Stability
from asteri.schema.context import RequestContext
from asteri.schema.idempotency import root_fields
from asteri.schema.operations import Route
from asteri.schema.persisted import Registry

__all__ = ["STABILITY_HEADER", "StabilityHeader", "mark", "preview_fields"]

STABILITY_HEADER = "x-stability"
_PREVIEW = ((STABILITY_HEADER.encode(), Stability.PREVIEW.value.encode()),)


def mark(state: Any, stability: Stability) -> None:
    """Mark this request's answer with ``stability`` (``request.state``): a preview's answer
    carries ``x-stability: preview``, an available one nothing."""
    if stability is Stability.PREVIEW:
        state.route_headers = _PREVIEW


def preview_fields(routes: Iterable[Route], registry: Registry) -> frozenset[str]:
    """The root fields (GraphQL names) that a preview route runs."""
    return frozenset(
        registry.by_name[route.operation].root_field
        for route in routes
        if route.stability is Stability.PREVIEW
    )


class StabilityHeader(SchemaExtension):
    """Marks the answer of an operation that selects a preview root field (``preview_fields``,
    kept on the schema), before it runs: its errors say so too."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        document = execution.graphql_document
        if isinstance(context, RequestContext) and context.http is not None and document:
            preview: frozenset[str] = execution.schema.preview_fields  # type: ignore[attr-defined]
            if root_fields(document, execution.operation_name) & preview:
                mark(context.http.state, Stability.PREVIEW)
        yield
