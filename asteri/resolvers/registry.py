"""Every declared ``Resource``, found rather than listed: a resolver module that declares one
is all it takes to be in the OpenAPI examples, the test matrices and everything else that
walks the resources."""

import importlib
import pkgutil
from functools import cache

import asteri.resolvers
from asteri.resolvers.crud import Resource

__all__ = ["resources"]


@cache
def resources() -> tuple[Resource, ...]:
    """Each once, by name (a module may import another's resource: order is not by module)."""
    found: dict[str, Resource] = {}
    for module in pkgutil.iter_modules(asteri.resolvers.__path__):
        if module.name == "registry":
            continue
        loaded = importlib.import_module(f"asteri.resolvers.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, Resource):
                found.setdefault(value.name, value)
    return tuple(found[name] for name in sorted(found))
