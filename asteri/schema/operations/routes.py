"""How REST routes bind to persisted operations: declarations only, no HTTP code.

The REST facade turns each ``Route`` into a FastAPI route; the variable mapping follows from
the route's kind, so a declaration is one line:

- ``list``: ``GET /things`` — the ``LIST_PARAMETERS`` (``limit`` → ``$first``, ``cursor`` →
  ``$after``, ``order_by`` → ``$orderBy``), every field of the ``$filter`` input → a query
  parameter.
- ``retrieve``: ``GET /things/{id}`` — path parameters → variables of the same name.
- ``create``: ``POST /things`` (201) — the JSON body → ``$input``.
- ``update``: ``PATCH /things/{id}`` — path → ``$id``, body → ``$input`` (absent untouched).
- ``delete``: ``DELETE /things/{id}`` (204).
- ``action``: ``POST /things/{id}/<verb>`` — a lifecycle step; a body, if the operation takes
  ``$input``.
"""

from dataclasses import dataclass, field, replace
from typing import Literal

from asteri.resolvers.crud import Stability

__all__ = [
    "API_PREFIX",
    "LIST_PARAMETERS",
    "ListParameter",
    "Route",
    "RouteKind",
    "resource_routes",
]

# Where every route lives: a route's ``path`` is relative to it (the app mounts them there).
API_PREFIX = "/api/public/v1"

RouteKind = Literal["list", "retrieve", "create", "update", "delete", "action"]

_METHOD: dict[RouteKind, str] = {
    "list": "GET",
    "retrieve": "GET",
    "create": "POST",
    "update": "PATCH",
    "delete": "DELETE",
    "action": "POST",
}
_STATUS: dict[RouteKind, int] = {"create": 201, "delete": 204}


@dataclass(frozen=True)
class ListParameter:
    """A list's paging parameter under its three names: REST query parameter, GraphQL
    variable and root-field argument (Python)."""

    rest: str
    variable: str
    argument: str


# The one mapping between a REST list's query parameters and its operation's variables.
LIST_PARAMETERS = (
    ListParameter("limit", "first", "first"),
    ListParameter("cursor", "after", "after"),
    ListParameter("order_by", "orderBy", "order_by"),
)


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    path: str
    operation: str  # the persisted operation's name: also the OpenAPI operationId
    tag: str
    # Where the result sits below the root field, for sub-resources (e.g. ("activity",)).
    result_path: tuple[str, ...] = field(default=())
    # Its success response carries a secret shown once (a new API key): never stored for an
    # Idempotency-Key replay (see rest_facade/idempotency.py).
    one_time_secret: bool = False
    # Its collection's (``Collection.stability``): a preview's answers carry ``x-stability``.
    stability: Stability = Stability.PREVIEW

    @property
    def method(self) -> str:
        return _METHOD[self.kind]

    @property
    def success_status(self) -> int:
        return _STATUS.get(self.kind, 200)


def resource_routes(
    tag: str,
    collection: str,
    *,
    list: str | None = None,
    retrieve: str | None = None,
    create: str | None = None,
    update: str | None = None,
    delete: str | None = None,
    actions: dict[str, str] | None = None,
    one_time_secrets: frozenset[str] = frozenset(),
    stability: Stability = Stability.PREVIEW,
) -> list[Route]:
    """The conventional routes of a resource collection, e.g. ``/customers``.
    ``one_time_secrets``: the operations whose response carries a secret shown once;
    ``stability``: the collection's."""
    item = f"{collection}/{{id}}"
    routes = [
        Route("list", collection, list, tag) if list else None,
        Route("create", collection, create, tag) if create else None,
        Route("retrieve", item, retrieve, tag) if retrieve else None,
        Route("update", item, update, tag) if update else None,
        Route("delete", item, delete, tag) if delete else None,
    ]
    routes += [Route("action", f"{item}/{verb}", op, tag) for verb, op in (actions or {}).items()]
    return [
        replace(r, one_time_secret=r.operation in one_time_secrets, stability=stability)
        for r in routes
        if r is not None
    ]
