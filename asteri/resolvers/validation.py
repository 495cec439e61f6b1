"""Input validation with pydantic; failures become one 422 naming every bad field."""

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, get_args, get_origin

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError
from email_validator import validate_email as _validate_email
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, ValidationError

from asteri.kit.errors import BadUserInput, FieldError
from asteri.kit.naming import camel

__all__ = [
    "EmailAddress",
    "constraint_text",
    "declared_constraints",
    "inner_model",
    "non_blank",
    "nul_pointer",
    "nullable",
    "refuse_nul",
    "validate",
]

B = TypeVar("B", bound=BaseModel)


def _email(value: str) -> str:
    """RFC 5321 syntax, normalized; no DNS. Refused: domains reserved for special use
    (``.local``, ``.onion``…, which no mail reaches), except ``.test``, kept for tests."""
    try:
        checked = _validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None
    return str(checked.normalized)


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# The special-use rule as the schemas state it: ``format: email``, and not at those domains.
_SPECIAL_USE = [d for d in SPECIAL_USE_DOMAIN_NAMES if d != "test"]
_SPECIAL_USE_PATTERN = rf"@(?:[^@]*\.)?(?:{'|'.join(_any_case(d) for d in _SPECIAL_USE)})$"
EmailAddress = Annotated[
    str,
    Field(json_schema_extra={"format": "email", "not": {"pattern": _SPECIAL_USE_PATTERN}}),
    AfterValidator(_email),
]


def non_blank(max_length: int) -> StringConstraints:
    """Text stored stripped, with at least one character that is not whitespace: the
    ``pattern`` (``\\S``) says so to the schemas, where a bare ``minLength: 1`` would let
    ``" "`` through. Use as ``Annotated[str, non_blank(200)]``."""
    return StringConstraints(
        strip_whitespace=True, min_length=1, max_length=max_length, pattern=r"\S"
    )


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
    "enum",
    "contains",
    "minContains",
    "maxContains",
    "not",
)


def _keywords(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        k: int(v) if isinstance(v, float) and v.is_integer() else v
        for k, v in schema.items()
        if k in _CONSTRAINTS
    }


def declared_constraints(model: type[BaseModel] | None) -> dict[str, dict[str, Any]]:
    """Each field's constraints in ``model``'s own JSON Schema (the non-null branch of an
    optional field), by field name: what the REST schema declares for the same field. A
    list's item constraints (each tag's pattern) are under ``items``."""
    if model is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})
    for name, prop in schema.get("properties", {}).items():
        branches: list[dict[str, Any]] = prop.get("anyOf", [prop])
        branch = next((b for b in branches if b.get("type") != "null"), {})
        keywords = _keywords(branch)
        item = branch.get("items", {})
        if "$ref" in item:  # an enum's values (``list[Scope]``)
            item = definitions.get(item["$ref"].rsplit("/", 1)[-1], {})
        items = _keywords(item)
        if items:
            keywords["items"] = items
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
        parts.append(
            "An email address"
            + (
                f", not at {', '.join(f'.{d}' for d in _SPECIAL_USE)}."
                if "not" in keywords
                else "."
            )
        )
    if "enum" in keywords:
        values = keywords["enum"]
        parts.append(
            f"One of {', '.join(f'`{v}`' for v in values)}."
            if len(values) <= 10
            else f"One of {len(values)} values (the OpenAPI schema lists them)."
        )
    if keywords.get("maxContains") == 1:
        parts.append("At most one is `primary`.")
    if "items" in keywords:
        parts.append(f"Each: {constraint_text(keywords['items'])}")
    return " ".join(parts)
