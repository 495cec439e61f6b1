"""The one naming rule between the surfaces: snake_case (Python, REST, events) ↔ camelCase
(GraphQL), and enum values: snake_case on REST (``created_at_desc``, as Stripe and GitHub
spell them) ↔ SCREAMING_CASE in GraphQL (``CREATED_AT_DESC``). Every conversion in the code
base goes through these functions."""

from collections.abc import Callable
from typing import Any

__all__ = ["camel", "camel_keys", "graphql_enum", "pascal", "rest_enum", "snake", "snake_keys"]


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


def rest_enum(name: str) -> str:
    """A GraphQL enum value as REST spells it: ``IN_PROGRESS`` → ``in_progress``."""
    return name.lower()


def graphql_enum(value: str) -> str:
    """A REST enum value as GraphQL spells it: ``in_progress`` → ``IN_PROGRESS``."""
    return value.upper()
