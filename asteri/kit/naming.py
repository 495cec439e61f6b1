"""The one naming rule between the surfaces: snake_case (Python, REST, events) ↔ camelCase
(GraphQL). Every conversion in the code base goes through these two functions."""

__all__ = ["camel", "snake"]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
