"""GraphQL errors get their stable code and HTTP status here, and unexpected ones are masked.

Rule for the HTTP status of a GraphQL response: when the operation produced no data (a request
error, or every root field failed), the status is that of the first error; otherwise 200 with
``errors`` beside ``data``. Every error carries ``extensions.code`` and ``extensions.status``.
"""

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from asteri.kit.errors import ApiError, ErrorCode, status_for

__all__ = ["ErrorShaping", "is_incident", "log_incidents", "response_status", "shape_error"]

log = logging.getLogger("asteri.graphql")


def is_incident(error: GraphQLError) -> bool:
    """An unexpected exception inside a resolver: logged with its traceback and masked."""
    return error.path is not None and not isinstance(error.original_error, ApiError)


def shape_error(error: GraphQLError, request_id: str | None = None) -> GraphQLError:
    original = error.original_error
    if isinstance(original, ApiError):
        message, extensions = original.detail, original.extensions()
    elif is_incident(error):
        code = ErrorCode.INTERNAL_SERVER_ERROR
        message = "Internal server error. Quote the request id when you contact support."
        extensions = {"code": code.value, "status": status_for(code)}
    else:
        # Parse, validation and variable-coercion errors: the document or its variables.
        code = ErrorCode.GRAPHQL_VALIDATION_FAILED
        message, extensions = error.message, {"code": code.value, "status": status_for(code)}
    if request_id is not None:
        extensions["request_id"] = request_id
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def response_status(data: dict[str, Any] | None, errors: list[GraphQLError]) -> int:
    if not errors:
        return 200
    if data is None or all(value is None for value in data.values()):
        status = (errors[0].extensions or {}).get("status", 400)
        return int(status)
    return 200


class ErrorShaping(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        result.errors = [shape_error(e, request_id) for e in result.errors]
        response = getattr(context, "response", None)
        if response is not None:
            response.status_code = response_status(result.data, result.errors)


def log_incidents(errors: list[GraphQLError]) -> None:
    for error in errors:
        if is_incident(error):
            log.error("unexpected error in %s", error.path, exc_info=error.original_error)
