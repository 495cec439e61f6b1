"""Every declared ``Resource`` and ``Log``, found rather than listed: a resolver module that
declares one is all it takes to be in the routes, the OpenAPI examples, the test matrices and
everything else that walks them."""

import importlib
import pkgutil
from functools import cache

from pydantic import BaseModel

import asteri.resolvers
from asteri.kit.naming import pascal
from asteri.resolvers.crud import Collection, Log, Resource

__all__ = ["logs", "resource_of_id", "resources", "validated_inputs", "validation_model"]

_MODULES: dict[str, object] = {}  # resource name → the resolver module that declares it


@cache
def _declared() -> dict[str, Collection]:
    """Each once, by name, from the module named after it (``customer`` in ``customer.py``;
    another module may import it, as appointments import customers)."""
    found: dict[str, Collection] = {}
    for module in pkgutil.iter_modules(asteri.resolvers.__path__):
        if module.name == "registry":
            continue
        loaded = importlib.import_module(f"asteri.resolvers.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, Collection) and module.name == value.name:
                found[value.name] = value
                _MODULES[value.name] = loaded
    return {name: found[name] for name in sorted(found)}


@cache
def resources() -> tuple[Resource, ...]:
    """The collections that routes write, by name."""
    return tuple(c for c in _declared().values() if isinstance(c, Resource))


@cache
def logs() -> tuple[Log, ...]:
    """The read-only logs (events, audit entries, delivery attempts), by name."""
    return tuple(c for c in _declared().values() if isinstance(c, Log))


@cache
def _by_prefix() -> dict[str, Resource]:
    return {resource.prefix: resource for resource in resources()}


def resource_of_id(public_id: str) -> Resource | None:
    """The resource an id names, by its prefix (``cus_…`` → customers); None if no resource
    has that prefix (then no object has that id)."""
    prefix, _, _ = public_id.partition("_")
    return _by_prefix().get(prefix)


def validation_model(resource: Resource, action: str = "") -> "type[BaseModel] | None":
    """The model that validates the resource's editable state, by convention
    ``<Type>Fields`` in its resolver module (``CustomerFields``), or an action's input,
    ``<Action><Type>Fields`` (``RescheduleAppointmentFields``): the one declaration of each
    field's constraints, which the REST schema and the GraphQL descriptions also show."""
    resources()
    name = f"{pascal(action)}{resource.type_name}Fields"
    model = getattr(_MODULES.get(resource.name), name, None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def validated_inputs() -> dict[str, type[BaseModel]]:
    """Each resource's create, update and action inputs (GraphQL names) → the model
    validating them; a transition's input → its ``Transition.input``."""
    found: dict[str, type[BaseModel]] = {}
    for resource in resources():
        t = resource.type_name
        model = validation_model(resource)
        if model is not None:
            found[f"Create{t}Input"] = model
            found[f"Update{t}Input"] = model
        for action in resource.actions:
            model = validation_model(resource, action)
            if model is not None:
                found[f"{pascal(action)}{t}Input"] = model
        for step in resource.lifecycle.transitions if resource.lifecycle else ():
            if step.input is not None:
                found[f"{pascal(step.name)}{t}Input"] = step.input
    return found
