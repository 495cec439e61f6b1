"""Every declared ``Resource``, found rather than listed: a resolver module that declares one
is all it takes to be in the OpenAPI examples, the test matrices and everything else that
walks the resources."""

import importlib
import pkgutil
from functools import cache

from pydantic import BaseModel

import asteri.resolvers
from asteri.resolvers.crud import Resource

__all__ = ["resource_of_id", "resources", "validated_inputs", "validation_model"]

_MODULES: dict[str, object] = {}  # resource name → the resolver module that declares it


@cache
def resources() -> tuple[Resource, ...]:
    """Each once, by name, from the module named after it (``customer`` in ``customer.py``;
    another module may import it, as appointments import customers)."""
    found: dict[str, Resource] = {}
    for module in pkgutil.iter_modules(asteri.resolvers.__path__):
        if module.name == "registry":
            continue
        loaded = importlib.import_module(f"asteri.resolvers.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, Resource) and module.name == value.name:
                found[value.name] = value
                _MODULES[value.name] = loaded
    return tuple(found[name] for name in sorted(found))


@cache
def _by_prefix() -> dict[str, Resource]:
    return {resource.prefix: resource for resource in resources()}


def resource_of_id(public_id: str) -> Resource | None:
    """The resource an id names, by its prefix (``cus_…`` → customers); None if no resource
    has that prefix (then no object has that id)."""
    prefix, _, _ = public_id.partition("_")
    return _by_prefix().get(prefix)


def validation_model(resource: Resource) -> "type[BaseModel] | None":
    """The model that validates the resource's editable state, by convention
    ``<Type>Fields`` in its resolver module (``CustomerFields``): the one declaration of each
    field's constraints, which the REST schema and the GraphQL descriptions also show."""
    resources()
    model = getattr(_MODULES.get(resource.name), f"{resource.type_name}Fields", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def validated_inputs() -> dict[str, type[BaseModel]]:
    """Each resource's create and update inputs (GraphQL names) → the model validating them."""
    found: dict[str, type[BaseModel]] = {}
    for resource in resources():
        model = validation_model(resource)
        if model is not None:
            found[f"Create{resource.type_name}Input"] = model
            found[f"Update{resource.type_name}Input"] = model
    return found
