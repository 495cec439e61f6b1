"""Persisted operations (``*.graphql``) and the REST routes bound to them (``ROUTES``).

A resource's routes follow from its ``Resource`` (``routes_of``): its collection, and the
conventional operations its ``.graphql`` file declares — ``List<Plural>``, ``Get<Type>``,
``Create<Type>``, ``Update<Type>``, ``Delete<Type>`` — plus one action per lifecycle
transition, other action and read-only part it declares; a log's (``crud.Log``), from its
``List`` and ``Get``. Adding a resource or a log: its ``.graphql`` file here; nothing below
changes.
"""

import re

from asteri.kit.naming import pascal
from asteri.resolvers.crud import Collection, Resource, Stability
from asteri.resolvers.registry import logs, resources
from asteri.schema.lifecycle import transition_operations
from asteri.schema.operations.routes import (
    API_PREFIX,
    LIST_PARAMETERS,
    ListParameter,
    Route,
    resource_routes,
)
from asteri.schema.persisted import OPERATIONS_DIR

__all__ = ["API_PREFIX", "LIST_PARAMETERS", "ROUTES", "ListParameter", "Route", "routes_of"]

# Every operation name the .graphql files declare (read as text: no schema needed yet).
_DECLARED = frozenset(
    match.group(1)
    for path in OPERATIONS_DIR.glob("*.graphql")
    for match in re.finditer(r"^(?:query|mutation)\s+(\w+)", path.read_text(), re.MULTILINE)
)


def routes_of(resource: Collection) -> list[Route]:
    """The collection's REST routes: each conventional operation it declares, and for a
    resource its lifecycle's transitions, its other actions and its read-only parts (a
    ``Log`` has only its list and its reads)."""

    def declared(verb: str) -> str | None:
        name = resource.operation(verb)
        return name if name in _DECLARED else None

    tag = resource.collection.replace("_", " ")
    collection = f"/{resource.collection}"
    if not isinstance(resource, Resource):
        return resource_routes(
            tag,
            collection,
            list=declared("List"),
            retrieve=declared("Get"),
            stability=resource.stability,
        )
    actions = {verb: resource.action_operation(verb) for verb in resource.actions}
    routes = resource_routes(
        tag,
        collection,
        list=declared("List"),
        retrieve=declared("Get"),
        create=declared("Create"),
        update=declared("Update"),
        delete=declared("Delete"),
        actions={**transition_operations(resource), **actions},
        one_time_secrets=frozenset(resource.operation(v) for v in resource.one_time_secrets),
        stability=resource.stability,
    )
    routes += [
        Route(
            "retrieve",
            f"{collection}/{{id}}/{part}",
            f"List{resource.type_name}{pascal(part)}",
            tag,
            (part,),
            stability=resource.stability,
        )
        for part in resource.parts
    ]
    return routes


# Every resource's and log's routes (``resolvers/registry.py`` finds them), then the caller's
# and the event catalogue's.
ROUTES: list[Route] = [
    *(route for resource in resources() for route in routes_of(resource)),
    *(route for log in logs() for route in routes_of(log)),
    Route("retrieve", "/viewer", "GetViewer", "viewer", stability=Stability.AVAILABLE),
    # The event catalogue (``schema/events.py``): one list, no paging.
    Route(
        "retrieve", "/event_types", "ListEventTypes", "event types", stability=Stability.AVAILABLE
    ),
]
