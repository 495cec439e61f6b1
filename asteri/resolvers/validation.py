"""Input validation with pydantic; failures become one 422 naming every bad field."""

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from asteri.kit.errors import BadUserInput, FieldError
from asteri.kit.naming import camel

__all__ = ["validate"]

B = TypeVar("B", bound=BaseModel)


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
        raise BadUserInput(
            "The input is invalid; `errors` names each field.", errors=errors
        ) from None
