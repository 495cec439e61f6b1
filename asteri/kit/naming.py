"""The one naming rule between the surfaces: snake_case (Python, REST, events) ↔ camelCase
(GraphQL). Every conversion in the code base goes through these functions."""

from collections.abc import Callable
from typing import Any

__all__ = ["camel", "camel_keys", "pascal", "snake", "snake_keys"]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def pascal(name: str) -> str:
    """snake_case → PascalCase (GraphQL type and operation names): ``team_member`` →
    ``TeamMember``."""
    camelled = camel(name)
    return camelled[:1].upper() + camelled[1:]


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _renamed(value: Any, rename: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {rename(k): _renamed(v, rename) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, rename) for v in value]
    return value


def camel_keys(value: Any) -> Any:
    """Every key of a JSON-like value, at any depth, in camelCase (REST body → variables)."""
    return _renamed(value, camel)


def snake_keys(value: Any) -> Any:
    """Every key of a JSON-like value, at any depth, in snake_case (GraphQL data → REST)."""
    return _renamed(value, snake)
