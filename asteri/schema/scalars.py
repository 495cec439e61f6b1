"""Custom scalars, registered once in ``SCALARS`` (strawberry's ``scalar_map``).

GraphQL's ``Int`` is 32-bit: money in minor units outgrows it at USD 21,474,836.47, and byte
counts at 2 GiB. ``SafeInt`` is an integer sent as a plain JSON number but bounded by
JavaScript's safe range, so every client (a browser included) reads it exactly and none has to
parse strings. Business limits (a price's maximum) are checked by the resolvers, with a 422.

``JSONObject`` is an output-only JSON object whose members the schema does not type: an
event's ``data``, which holds the REST object of whatever resource the event is of, exactly as
a webhook receiver gets it (snake_case, ``object`` first).
"""

from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

__all__ = ["MAX_SAFE_INT", "SCALARS", "JSONObject", "SafeInt"]

SafeInt = NewType("SafeInt", int)
JSONObject = NewType("JSONObject", dict)  # type: ignore[type-arg]
MAX_SAFE_INT = 2**53 - 1


def _safe_int(value: Any) -> int:
    """Both directions: only integers within ±(2^53 - 1); no strings or booleans. An integral
    float (``100.0``) is that integer, as JSON Schema's ``integer`` and GraphQL's ``Int`` take
    it; ``100.5`` is refused."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"SafeInt must be an integer, not {type(value).__name__}.")
    if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        raise ValueError("SafeInt must be between -(2^53 - 1) and 2^53 - 1.")
    return value


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"JSONObject must be an object, not {type(value).__name__}.")
    return value


def _output_only(value: Any) -> Any:
    raise TypeError("JSONObject is an output type: no argument takes one.")


SCALARS: dict[object, ScalarDefinition] = {
    SafeInt: strawberry.scalar(
        name="SafeInt",
        description=(
            "An integer between -(2^53 - 1) and 2^53 - 1, sent as a JSON number. Wider than "
            "`Int` (32-bit) yet exact in every JSON parser, JavaScript's included."
        ),
        serialize=_safe_int,
        parse_value=_safe_int,
    ),
    JSONObject: strawberry.scalar(
        name="JSONObject",
        description="A JSON object whose members are not typed in this schema (an event's "
        "`data`: the REST object of the event's resource, as webhook receivers get it).",
        serialize=_json_object,
        parse_value=_output_only,
    ),
}
