"""The event catalogue (``schema/events.py``) is what the writes record, and part of the
contract: derived from the resources, served on both surfaces, in the OpenAPI document, and
committed as ``rest_facade/event_types.json`` (a test fails when it drifts)."""

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlmodel import col

from asteri.app import create_app
from asteri.models import Event
from asteri.resolvers.crud import Resource, SampleContext
from asteri.resolvers.registry import resources
from asteri.rest_facade.openapi import event_catalogue
from asteri.schema.events import PAYLOAD_VERSION, event_types
from asteri.schema.operations import routes_of
from tests.factories import Api, Credential, action_body, org_pk, sample_context, steps_to
from tests.resources import RESOURCES

SNAPSHOT = Path(__file__).parents[1] / "asteri" / "rest_facade" / "event_types.json"
_CASES = {case.name: case for case in RESOURCES}
_NAMES = [kind.name for kind in event_types()]
# Recorded by the service itself, not by a route: tests/test_webhook_delivery.py and
# tests/test_estimates.py make them.
_SYSTEM = {f"{r.name}.{verb}" for r in resources() for verb in r.system_events}


def _catalogue() -> dict[str, Any]:
    return event_catalogue(create_app().openapi())


def _dumped(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


def test_event_catalogue_snapshot_matches_code() -> None:
    assert SNAPSHOT.read_text() == _dumped(_catalogue()), (
        "The event catalogue drifted from asteri/rest_facade/event_types.json. If the change is "
        "deliberate, run `make contracts` and commit the new snapshot."
    )


def test_the_catalogue_follows_the_declarations() -> None:
    """Each resource's events: its create's, ``updated``, each transition's and action's,
    ``deleted`` exactly where it has a delete route, and those the service records itself."""
    for resource in resources():
        kinds = {route.kind for route in routes_of(resource)}
        steps = resource.lifecycle.transitions if resource.lifecycle else ()
        expected = {
            resource.created,
            "updated",
            *(step.event for step in steps),
            *(resource.event_of(action) for action in resource.actions),
            *({"deleted"} if "delete" in kinds else set()),
            *resource.system_events,
        }
        found = {k.verb for k in event_types() if k.resource is resource}
        assert found == expected, resource.name
    assert "service.deleted" in _NAMES
    assert "team_member.deleted" not in _NAMES
    assert "appointment.scheduled" in _NAMES
    assert "appointment.created" not in _NAMES
    assert len(_NAMES) == len(set(_NAMES))


def test_an_action_without_its_event_is_refused() -> None:
    """A resource cannot declare an action whose event the catalogue would not know."""
    (customers,) = [r for r in resources() if r.name == "customer"]
    with pytest.raises(TypeError, match="action_events"):
        dataclasses.replace(customers, actions=("merge",))


def _once_each(api: Api, who: Credential) -> SampleContext:
    """A sample context whose references (``id_of``) are made once: the same team member is
    assigned, then unassigned."""
    context = sample_context(api, who)
    made: dict[str, str] = {}

    def id_of(other: Resource) -> str:
        if other.name not in made:
            made[other.name] = context.id_of(other)
        return made[other.name]

    return SampleContext(distinct=context.distinct, id_of=id_of, event_of=context.event_of)


def _exercise(api: Api, resource: Resource) -> str:
    """Every write the resource has, each successfully, in a new organization (its id):
    create, update, each transition from a state it starts from, each other action in
    declaration order on one object, then delete (if it has one)."""
    case = _CASES[resource.name]
    who = case.credential(api)

    def create() -> str:
        data = api.gql(case.create, {"input": case.create_input(api, who)}, as_=who)
        return case.created_id(data)

    def act(public_id: str, action: str, body: Callable[[], dict[str, Any] | None]) -> None:
        path = f"/{resource.collection}/{public_id}/{action}"
        response = api.rest("POST", path, as_=who, json=body())
        assert response.status_code == 200, (path, response.text)

    def step_input(name: str) -> dict[str, Any] | None:
        step = resource.lifecycle.named(name) if resource.lifecycle else None
        if step is None or step.input is None:
            return None
        return action_body(resource, step.name)

    public_id = create()
    api.gql(case.update, {"id": public_id, "input": case.update_input()}, as_=who)
    lifecycle = resource.lifecycle
    if lifecycle is not None:
        paths = lifecycle.paths()
        for step in lifecycle.transitions:
            one = create()
            for before in paths[step.sources[0]]:
                act(one, before.name, lambda b=before.name: step_input(b))  # type: ignore[misc]
            act(one, step.name, lambda s=step.name: step_input(s))  # type: ignore[misc]
    if resource.actions:
        one, context = create(), _once_each(api, who)
        for action in resource.actions:
            steps = steps_to(resource, action)
            target = create() if steps else one  # brought to a state the action starts from
            for before in steps:
                act(target, before.name, lambda b=before.name: step_input(b))  # type: ignore[misc]

            def body(a: str = action) -> dict[str, Any] | None:
                try:
                    return action_body(resource, a, context)
                except LookupError:
                    return None

            act(target, action, body)
    if case.delete is not None:
        api.gql(case.delete, {"id": public_id}, as_=who)
    return who.organization_id


def _stored(api: Api, organizations: list[str]) -> list[Any]:
    pks = [org_pk(api.engine, org) for org in organizations]
    with api.engine.connect() as conn:
        return list(
            conn.execute(
                select(Event).where(col(Event.organization_id).in_(pks)).order_by(col(Event.id))
            ).all()
        )


def test_every_write_records_a_catalogued_event_and_every_type_is_recorded(api: Api) -> None:
    organizations = [_exercise(api, resource) for resource in resources()]
    events = _stored(api, organizations)
    recorded = {event.type for event in events}
    assert recorded - set(_NAMES) == set(), "recorded, but not in the catalogue"
    assert set(_NAMES) - recorded - _SYSTEM == set(), "in the catalogue, never recorded"

    # Each stored payload is ``data.object`` of its event type's schema, and exactly the REST
    # object: every member the schema has, no other.
    schemas = {entry["name"]: entry["schema"] for entry in _catalogue()["event_types"]}
    for event in events:
        schema = schemas[event.type]
        envelope = {
            "type": event.type,
            "timestamp": event.occurred_at.isoformat(),
            "data": {"object": event.payload},
        }
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [e.message for e in validator.iter_errors(envelope)]
        assert errors == [], (event.type, errors)
        object_schema = schema["$defs"][
            schema["properties"]["data"]["properties"]["object"]["$ref"].rsplit("/", 1)[-1]
        ]
        assert set(event.payload) == set(object_schema["properties"]), event.type
        assert event.payload["object"] == event.resource_type


def test_each_payload_schema_refers_to_the_rest_object_and_is_a_webhook() -> None:
    document = create_app().openapi()
    schemas = document["components"]["schemas"]
    for kind in event_types():
        schema = schemas[kind.schema_name]
        data = schema["properties"]["data"]["properties"]["object"]
        assert data["$ref"] == f"#/components/schemas/{kind.resource.type_name}"
        assert schema["properties"]["type"]["const"] == kind.name
        assert schema["x-payload-version"] == PAYLOAD_VERSION
        body = document["webhooks"][kind.name]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{kind.schema_name}"
        }
    # The standalone schemas carry the version in their ``$id``.
    for entry in _catalogue()["event_types"]:
        assert entry["schema"]["$id"].endswith(f"/v{PAYLOAD_VERSION}/{entry['name']}.json")
        Draft202012Validator.check_schema(entry["schema"])


EVENT_TYPES = "query { eventTypes { name description resource payloadVersion payloadSchema } }"


def test_event_types_on_both_surfaces(api: Api) -> None:
    cred = api.key(scopes=["read:team"])  # any credential: no scope is needed
    listed = api.gql(EVENT_TYPES, as_=cred)["eventTypes"]
    assert [e["name"] for e in listed] == _NAMES
    assert listed[0] == {
        "name": event_types()[0].name,
        "description": event_types()[0].description,
        "resource": event_types()[0].resource.name,
        "payloadVersion": PAYLOAD_VERSION,
        "payloadSchema": f"#/components/schemas/{event_types()[0].schema_name}",
    }

    response = api.rest("GET", "/event_types", as_=cred)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["object"], body["has_more"], body["next_cursor"]) == ("list", False, None)
    assert [e["name"] for e in body["data"]] == _NAMES
    assert body["data"][0] == {
        "object": "event_type",
        "name": listed[0]["name"],
        "description": listed[0]["description"],
        "resource": listed[0]["resource"],
        "payload_version": PAYLOAD_VERSION,
        "payload_schema": listed[0]["payloadSchema"],
    }


def test_event_types_need_a_credential(api: Api) -> None:
    status, error = api.error(EVENT_TYPES, as_=None)
    assert (status, error["extensions"]["reason"]) == (401, "missing_credentials")
    response = api.rest("GET", "/event_types")
    assert (response.status_code, response.json()["reason"]) == (401, "missing_credentials")
