"""Every declared lifecycle, walked state by state on both surfaces.

The lifecycles are discovered (every ``Resource`` that declares one). For each state a new
object can be brought to, every transition is tried: one allowed from there moves it and
records its event; any other is a 409 ``invalid_transition`` naming the state and the
transitions allowed from it, and records nothing. Each transition is a mutation with the
resource's write scope and a REST action.
"""

import importlib
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from asteri.authz.permissions import RequiresScope
from asteri.kit.naming import camel, pascal
from asteri.models import Event
from asteri.resolvers.crud import Resource
from asteri.resolvers.lifecycle import Lifecycle, Transition
from asteri.schema import build_schema
from asteri.schema.lifecycle import transition_operations
from asteri.schema.operations import ROUTES
from asteri.schema.snapshot import snapshot_for
from tests.factories import Api, Credential, action_body
from tests.resources import RESOURCES, declared_resources


def _lifecycles() -> list[tuple[Resource, Lifecycle]]:
    return [(r, r.lifecycle) for r in declared_resources() if r.lifecycle is not None]


LIFECYCLES = _lifecycles()
ids = [resource.name for resource, _ in LIFECYCLES]


def _mutation(resource: Resource, transition: str) -> str:
    return camel(resource.action_field(transition))


def _collection(resource: Resource) -> str:
    """The REST collection, by the route table's convention (``/customers``)."""
    path = f"/{resource.collection}"
    assert any(r.kind == "list" and r.path == path for r in ROUTES), path
    return path


def test_customers_and_team_members_declare_their_lifecycles() -> None:
    assert {"customer", "team_member"} <= set(ids)


@pytest.mark.parametrize(("resource", "lifecycle"), LIFECYCLES, ids=ids)
def test_each_transition_is_a_scoped_mutation_and_a_rest_action(
    resource: Resource, lifecycle: Lifecycle
) -> None:
    schema = build_schema()
    mutation = schema.get_type_by_name("Mutation")
    fields = {schema.config.name_converter.get_graphql_name(f): f for f in mutation.fields}  # type: ignore[union-attr]
    routes = {(r.method, r.path): r.operation for r in ROUTES}
    collection = next(
        r.path for r in ROUTES if r.kind == "list" and r.tag.replace(" ", "_")[:-1] == resource.name
    )
    for transition, operation in transition_operations(resource).items():
        field = fields[_mutation(resource, transition)]
        (extension,) = [e for e in field.extensions if hasattr(e, "permissions")]
        (permission,) = extension.permissions
        assert isinstance(permission, RequiresScope)
        assert permission.scope.value.startswith("write:")
        assert routes[("POST", f"{collection}/{{id}}/{transition}")] == operation


def _events(api: Api, public_id: str) -> list[str]:
    """The types of the events of one object, oldest first."""
    with api.engine.connect() as connection:
        found = connection.scalars(
            select(col(Event.type))
            .where(col(Event.resource_id) == public_id)
            .order_by(col(Event.id))
        ).all()
    return list(found)


def _apply(api: Api, resource: Resource, cred: Credential, step: Transition, public_id: str) -> Any:
    """The transition's mutation; one that takes a reason is given one."""
    field = _mutation(resource, step.name)
    if step.input is not None:
        input_type = f"{pascal(step.name)}{resource.type_name}Input"
        document = (
            f"mutation($id: ID!, $input: {input_type}!) "
            f"{{ {field}(id: $id, input: $input) {{ id }} }}"
        )
        input_ = resource.action_input(step.name)
        return api.post(document, {"id": public_id, "input": input_}, as_=cred)
    document = f"mutation($id: ID!) {{ {field}(id: $id) {{ id }} }}"
    return api.post(document, {"id": public_id}, as_=cred)


@pytest.mark.parametrize(("resource", "lifecycle"), LIFECYCLES, ids=ids)
@pytest.mark.parametrize("surface", ["graphql", "rest"])
def test_every_transition_from_every_state(
    api: Api, resource: Resource, lifecycle: Lifecycle, surface: str
) -> None:
    case = next(c for c in RESOURCES if c.name == resource.name)
    cred = case.credential(api)
    collection = next(
        r.path for r in ROUTES if r.kind == "list" and r.tag.replace(" ", "_")[:-1] == resource.name
    )

    def new_object() -> str:
        return case.created_id(
            api.gql(case.create, {"input": case.create_input(api, cred)}, as_=cred)
        )

    def run(step: Transition, public_id: str) -> tuple[int, dict[str, Any]]:
        if surface == "rest":
            body = action_body(resource, step.name) if step.input is not None else None
            path = f"{collection}/{public_id}/{step.name}"
            response = api.rest("POST", path, as_=cred, json=body)
            return response.status_code, response.json()
        response = _apply(api, resource, cred, step, public_id)
        body = response.json()
        errors = body.get("errors")
        return response.status_code, (errors[0]["extensions"] if errors else body["data"])

    for state, path in lifecycle.paths().items():
        for step in lifecycle.transitions:
            public_id = new_object()
            for earlier in path:
                status, _ = run(earlier, public_id)
                assert status == 200, (earlier, state)
            before = _events(api, public_id)
            status, body = run(step, public_id)
            if state in step.sources:
                assert status == 200, (state, step.name, body)
                # Its event, then any its lifecycle's ``then`` records (an invoice finalized
                # is one to export: ``invoice.export_requested``).
                recorded = _events(api, public_id)[len(before) :]
                assert recorded[:1] == [f"{resource.name}.{step.event}"], recorded
                assert len(recorded) == 1 or lifecycle.then is not None, recorded
            else:
                assert status == 409, (state, step.name, body)
                assert body["reason"] == "invalid_transition"
                assert body["state"] == state
                assert body["allowed_transitions"] == lifecycle.allowed_from(state)
                assert _events(api, public_id) == before


@pytest.mark.parametrize("resource", declared_resources(), ids=lambda r: r.name)
def test_every_resource_has_the_payloads_another_write_records_its_events_with(
    resource: Resource,
) -> None:
    """A lifecycle's ``then`` records events of other resources (a payment's, on its
    invoice) through ``snapshot_for``: each resource's payload is its own schema module's."""
    build_schema()
    found = snapshot_for(resource)
    assert found is importlib.import_module(f"asteri.schema.{resource.name}").snapshot
