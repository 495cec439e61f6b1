"""Input validation with pydantic; failures become one 422 naming every bad field."""

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from asteri.kit.errors import BadUserInput, FieldError

__all__ = ["camel", "validate"]

B = TypeVar("B", bound=BaseModel)


def camel(name: str) -> str:
    """snake_case → camelCase: the one rule between Python/REST names and GraphQL names."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def validate(model: type[B], data: Mapping[str, Any], *, argument: str = "input") -> B:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        errors = [
            FieldError(
                "/"
                + "/".join(
                    [argument, *(camel(p) if isinstance(p, str) else str(p) for p in e["loc"])]
                ),
                e["msg"],
            )
            for e in exc.errors(include_url=False)
        ]
        fields = ", ".join(sorted({err.pointer for err in errors}))
        raise BadUserInput(f"The input is invalid: {fields}.", errors=errors) from None
