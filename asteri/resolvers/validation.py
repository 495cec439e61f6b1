"""Input validation with pydantic; failures become one 422 naming every bad field."""

from collections.abc import Mapping
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from asteri.kit.errors import BadUserInput, FieldError
from asteri.kit.naming import camel

__all__ = [
    "constraint_text",
    "declared_constraints",
    "inner_model",
    "nul_pointer",
    "nullable",
    "refuse_nul",
    "validate",
]

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


# The JSON Schema keywords of a field's constraints, as its validation model declares them.
_CONSTRAINTS = (
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
)


def declared_constraints(model: type[BaseModel] | None) -> dict[str, dict[str, Any]]:
    """Each field's constraints in ``model``'s own JSON Schema (the non-null branch of an
    optional field), by field name: what the REST schema declares for the same field."""
    if model is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, prop in model.model_json_schema().get("properties", {}).items():
        branches: list[dict[str, Any]] = prop.get("anyOf", [prop])
        branch = next((b for b in branches if b.get("type") != "null"), {})
        keywords = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v
            for k, v in branch.items()
            if k in _CONSTRAINTS
        }
        if keywords:
            out[name] = keywords
    return out


def nullable(model: type[BaseModel], name: str) -> bool:
    """Whether an input may send ``name`` as null: if the validation model takes null, or
    the field is a list with a default (the schema layer reads a null list as empty). Any
    other field is never null (``display_name``, ``active``): no PATCH may null it."""
    field = model.model_fields.get(name)
    if field is None or field.annotation is None:
        return True
    if type(None) in get_args(field.annotation):
        return True
    return not field.is_required() and get_origin(field.annotation) is list


def inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``X``, ``X | None`` or ``list[X]`` (a nested input's validation)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = inner_model(arg)
        if found is not None:
            return found
    return None


def constraint_text(keywords: dict[str, Any]) -> str:
    """The constraints in words, for a GraphQL description: ``1 to 200 characters.``"""

    def span(low: Any, high: Any, unit: str) -> str:
        if low is not None and high is not None:
            return f"{low} to {high}{unit}."
        return f"At least {low}{unit}." if low is not None else f"At most {high}{unit}."

    parts = []
    if "minLength" in keywords or "maxLength" in keywords:
        parts.append(span(keywords.get("minLength"), keywords.get("maxLength"), " characters"))
    if "minimum" in keywords or "maximum" in keywords:
        parts.append(span(keywords.get("minimum"), keywords.get("maximum"), ""))
    if "minItems" in keywords or "maxItems" in keywords:
        parts.append(span(keywords.get("minItems"), keywords.get("maxItems"), " items"))
    if "pattern" in keywords:
        parts.append(f"Matches `{keywords['pattern']}`.")
    if keywords.get("format") == "email":
        parts.append("An email address.")
    return " ".join(parts)
