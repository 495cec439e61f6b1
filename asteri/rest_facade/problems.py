"""A GraphQL error → the RFC 9457 problem a REST caller gets, with REST field names.

The code and status come from the error's extensions (set once, by the schema's error
shaping); only the pointers change: ``/input/displayName`` → ``/display_name``,
``/filter/updatedSince`` → ``/updated_since``, ``/first`` → ``/limit``.
"""

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from graphql import GraphQLError

from asteri.http.problems import problem_response
from asteri.kit.errors import ErrorCode
from asteri.kit.naming import snake
from asteri.schema.operations import LIST_PARAMETERS

__all__ = ["coded_problem", "graphql_problem", "rest_pointer"]

_VARIABLE_TO_PARAM = {p.variable: p.rest for p in LIST_PARAMETERS}
_WRAPPERS = {"input", "filter"}


def rest_pointer(pointer: str) -> str:
    parts = pointer.strip("/").split("/") if pointer.strip("/") else []
    if parts and parts[0] in _WRAPPERS:
        parts = parts[1:]
    elif parts and parts[0] in _VARIABLE_TO_PARAM:
        parts[0] = _VARIABLE_TO_PARAM[parts[0]]
    return "/" + "/".join(p if p.isdigit() else snake(p) for p in parts)


def graphql_problem(request: Request, error: GraphQLError) -> Response:
    return coded_problem(request, error.message, error.extensions or {})


def coded_problem(request: Request, message: str, coded: dict[str, Any]) -> Response:
    """A problem from an error's extensions (``code``, ``status``, ``errors``…), REST-named."""
    extensions = dict(coded)
    code = ErrorCode(extensions.get("code", ErrorCode.BAD_REQUEST.value))
    extensions.pop("request_id", None)
    if extensions.get("param") in _VARIABLE_TO_PARAM:
        extensions["param"] = _VARIABLE_TO_PARAM[extensions["param"]]
    if "errors" in extensions:
        extensions["errors"] = [
            {**e, "pointer": rest_pointer(e["pointer"])} for e in extensions["errors"]
        ]
    return problem_response(request, code, message, extensions)
