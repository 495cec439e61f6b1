"""The event catalogue: every event type the writes record, derived from the resources'
declarations, never listed by hand.

A resource's events are ``<resource>.<verb>``: its create's (``Resource.created``),
``updated`` and ``deleted`` where it has those routes, each lifecycle transition's
(``Transition.event``) and each other action's (``Resource.action_events``). The resolvers
record exactly these verbs (``crud.create``/``update``/``soft_delete``, ``lifecycle.transition``,
``Resource.event_of``); ``tests/test_event_types.py`` runs every write of every resource and
holds the events table and this catalogue to the same set.

Each event type's payload, version ``PAYLOAD_VERSION``, is
``{"type": "<name>", "timestamp": <RFC 3339>, "data": {"object": <the REST object>}}``:
``data.object`` is the resource's public REST object (snake_case, ``object`` first), the
component the OpenAPI document already has for it (``Customer``). The document also carries
each payload as a component of its own (``CustomerCreatedEvent``,
``rest_facade/openapi.py``); the committed ``rest_facade/event_types.json`` holds each one as
a standalone JSON Schema.

``eventTypes`` (GraphQL) and ``GET /event_types`` (REST) list the catalogue to any valid
credential, no scope needed (public on purpose, as ``viewer``): it holds no tenant data, is
the same for every organization, and is already public in the OpenAPI document and the SDL.
A scope would protect nothing, and the contract reserves ``manage:webhooks`` for changes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import strawberry

from asteri.kit.naming import pascal
from asteri.kit.settings import DEFAULT_PUBLIC_URL
from asteri.resolvers.crud import DELETED, UPDATED, Resource
from asteri.resolvers.registry import resources
from asteri.schema.fields import RootFields, public
from asteri.schema.operations import routes_of

__all__ = ["PAYLOAD_VERSION", "EventType", "EventTypeQueries", "event_types", "payload_schema"]

# The version of the payload format. A change that could break a receiver (a member renamed
# or removed, a meaning changed) is a new version; adding a member to ``data.object`` is not.
PAYLOAD_VERSION = 1
# Each payload schema's `$id`: a page of the developer portal (under the default base, so the
# committed catalogue does not depend on where it was generated).
SCHEMA_BASE = f"{DEFAULT_PUBLIC_URL}/developers/events/v{PAYLOAD_VERSION}/"


@dataclass(frozen=True)
class EventKind:
    """One event type of the catalogue."""

    resource: Resource
    verb: str
    description: str

    @property
    def name(self) -> str:
        """``customer.created``: the stored ``Event.type`` and the payload's ``type``."""
        return f"{self.resource.name}.{self.verb}"

    @property
    def schema_name(self) -> str:
        """Its payload's OpenAPI component: ``CustomerCreatedEvent``."""
        return f"{self.resource.type_name}{pascal(self.verb)}Event"


def _noun(resource: Resource) -> str:
    noun = resource.name.replace("_", " ")
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _of(resource: Resource) -> list[EventKind]:
    kinds = {route.kind for route in routes_of(resource)}
    noun, item = _noun(resource), f"/{resource.collection}/{{id}}"
    found: list[EventKind] = []
    if "create" in kinds:
        made = "created" if resource.created == "created" else f"{resource.created} (created)"
        found.append(
            EventKind(
                resource,
                resource.created,
                f"{noun.capitalize()} was {made}: `POST /{resource.collection}`, "
                f"`{resource.operation('Create')}`.",
            )
        )
    if "update" in kinds:
        found.append(
            EventKind(
                resource,
                UPDATED,
                f"{noun.capitalize()} was changed: `PATCH {item}`, "
                f"`{resource.operation('Update')}` (only when a value changes).",
            )
        )
    for step in resource.lifecycle.transitions if resource.lifecycle else ():
        found.append(
            EventKind(
                resource,
                step.event,
                f"After the `{step.name}` transition ({' or '.join(step.sources)} → "
                f"{step.target}): {step.description} `POST {item}/{step.name}`, "
                f"`{resource.action_operation(step.name)}`.",
            )
        )
    for action in resource.actions:
        found.append(
            EventKind(
                resource,
                resource.event_of(action),
                f"{noun.capitalize()} was {resource.event_of(action)}: "
                f"`POST {item}/{action}`, `{resource.action_operation(action)}`.",
            )
        )
    for verb, meaning in resource.system_events.items():
        found.append(EventKind(resource, verb, meaning))
    if "delete" in kinds:
        found.append(
            EventKind(
                resource,
                DELETED,
                f"{noun.capitalize()} was deleted: `DELETE {item}`, "
                f"`{resource.operation('Delete')}`.",
            )
        )
    return found


@cache
def event_types() -> tuple[EventKind, ...]:
    """Every event type, by resource (in name order), then as its declaration orders them."""
    found: dict[str, EventKind] = {}
    for resource in resources():
        for kind in _of(resource):
            assert kind.name not in found, f"{kind.name} is declared twice"
            found[kind.name] = kind
    return tuple(found.values())


def payload_schema(kind: EventKind, ref: Callable[[str], str]) -> dict[str, Any]:
    """The JSON Schema of ``kind``'s payload; ``ref(name)`` is where the REST object schema
    ``name`` (``Customer``) is: ``#/components/schemas/Customer`` in the OpenAPI document."""
    return {
        "title": kind.schema_name,
        "description": f"`{kind.name}`: {kind.description}",
        "type": "object",
        "properties": {
            "type": {"type": "string", "const": kind.name, "description": "The event type."},
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "When the change was made (RFC 3339, UTC).",
            },
            "data": {
                "type": "object",
                "properties": {
                    "object": {
                        "$ref": ref(kind.resource.type_name),
                        "description": "The object as the change left it, as REST returns it.",
                    }
                },
                "required": ["object"],
            },
        },
        "required": ["type", "timestamp", "data"],
        "x-event-type": kind.name,
        "x-payload-version": PAYLOAD_VERSION,
    }


@strawberry.type(description="A type of event the API records, and webhooks will deliver.")
class EventType:
    name: str = strawberry.field(description="`<resource>.<verb>`, e.g. `customer.created`.")
    description: str
    resource: str = strawberry.field(
        description="The resource whose object the payload carries, e.g. `customer`."
    )
    payload_version: int = strawberry.field(
        description="The version of the payload format `{type, timestamp, data: {object}}`."
    )
    payload_schema: str = strawberry.field(
        description="The OpenAPI component describing the payload, e.g. "
        "`#/components/schemas/CustomerCreatedEvent`."
    )


def _public(kind: EventKind) -> EventType:
    return EventType(
        name=kind.name,
        description=kind.description,
        resource=kind.resource.name,
        payload_version=PAYLOAD_VERSION,
        payload_schema=f"#/components/schemas/{kind.schema_name}",
    )


@strawberry.type
class EventTypeQueries:
    @public(
        description="Every event type: its name, what records it and its payload's schema. "
        "Needs no scope."
    )
    async def event_types(self) -> list[EventType]:
        return [_public(kind) for kind in event_types()]


ROOT_FIELDS = RootFields(queries=(EventTypeQueries,))
