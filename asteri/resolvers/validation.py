"""Input validation with pydantic; failures become one 422 naming every bad field."""

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from asteri.kit.errors import BadUserInput, FieldError
from asteri.kit.naming import camel

__all__ = ["nul_pointer", "refuse_nul", "validate"]

B = TypeVar("B", bound=BaseModel)


def nul_pointer(value: Any, pointer: str) -> str | None:
    """Where a NUL character hides in ``value``, if anywhere: text may not contain one (and
    PostgreSQL cannot store it), so every text input is checked before any SQL sees it."""
    if isinstance(value, str):
        return pointer if "\x00" in value else None
    items = (
        value.items()
        if isinstance(value, Mapping)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = nul_pointer(item, f"{pointer}/{camel(key) if isinstance(key, str) else key}")
        if found is not None:
            return found
    return None


def refuse_nul(value: Any, pointer: str) -> None:
    found = nul_pointer(value, pointer)
    if found is not None:
        raise BadUserInput(
            "Text may not contain NUL characters.",
            errors=[FieldError(found, "contains a NUL character")],
        )


def validate(model: type[B], data: Mapping[str, Any], *, argument: str = "input") -> B:
    refuse_nul(dict(data), f"/{argument}")
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
