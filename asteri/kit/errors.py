"""The one home of error shapes: stable codes, their HTTP statuses, GraphQL and RFC 9457 forms.

Resolvers raise ``ApiError`` subclasses; the GraphQL layer copies ``extensions()`` onto the
GraphQL error and the REST layer renders ``problem()``. Nothing else invents an error shape.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "ApiError",
    "BadRequest",
    "BadUserInput",
    "Conflict",
    "ErrorCode",
    "FieldError",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "Unauthenticated",
    "problem_body",
    "status_for",
]


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_REQUEST = "BAD_REQUEST"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.GRAPHQL_VALIDATION_FAILED: 400,
    ErrorCode.BAD_USER_INPUT: 422,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PRECONDITION_FAILED: 412,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_SERVER_ERROR: 500,
}

_TITLE: dict[ErrorCode, str] = {
    ErrorCode.UNAUTHENTICATED: "Credentials are invalid or expired",
    ErrorCode.FORBIDDEN: "The caller lacks the required scope or organization",
    ErrorCode.NOT_FOUND: "Resource not found",
    ErrorCode.BAD_REQUEST: "The request is malformed",
    ErrorCode.METHOD_NOT_ALLOWED: "The route does not allow this method",
    ErrorCode.GRAPHQL_VALIDATION_FAILED: "The GraphQL document is invalid",
    ErrorCode.BAD_USER_INPUT: "The input is invalid",
    ErrorCode.CONFLICT: "The request conflicts with the current state",
    ErrorCode.PRECONDITION_FAILED: "The object changed since the version the request names",
    ErrorCode.PAYLOAD_TOO_LARGE: "The request body is too large",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "The request body is not JSON",
    ErrorCode.RATE_LIMITED: "Rate limited",
    ErrorCode.INTERNAL_SERVER_ERROR: "Internal server error",
}


def status_for(code: ErrorCode) -> int:
    return _STATUS[code]


@dataclass(frozen=True)
class FieldError:
    """One invalid input value; ``pointer`` is an RFC 6901 JSON pointer into the input."""

    pointer: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.message}


class ApiError(Exception):
    """An expected failure with a stable code. Never logged as an incident."""

    code: ErrorCode = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra

    @property
    def status(self) -> int:
        return status_for(self.code)

    def extensions(self) -> dict[str, Any]:
        ext: dict[str, Any] = {"code": self.code.value, "status": self.status, **self.extra}
        if self.errors:
            ext["errors"] = [e.as_dict() for e in self.errors]
        return ext


class Unauthenticated(ApiError):
    """401: missing, malformed, unknown, revoked or expired credentials."""

    code = ErrorCode.UNAUTHENTICATED


class Forbidden(ApiError):
    """403: authenticated, but not allowed (missing scope, another organization)."""

    code = ErrorCode.FORBIDDEN


class NotFound(ApiError):
    """404: absent, or owned by another organization or environment (never told apart)."""

    code = ErrorCode.NOT_FOUND


class BadRequest(ApiError):
    """400: a malformed request (bad cursor, unparsable body)."""

    code = ErrorCode.BAD_REQUEST


class BadUserInput(ApiError):
    """422: well-formed input whose values fail validation; ``errors`` name each field."""

    code = ErrorCode.BAD_USER_INPUT


class Conflict(ApiError):
    """409: the write collides with existing state (a duplicate unique value)."""

    code = ErrorCode.CONFLICT


class PreconditionFailed(ApiError):
    """412: ``If-Match`` (REST) or ``expectedVersion`` (GraphQL) names a version the object no
    longer has. Carries ``current_version``: read the object again, then decide."""

    code = ErrorCode.PRECONDITION_FAILED


class RateLimited(ApiError):
    """429: the key's budget for a window is spent. Carries ``window``, ``limit`` and
    ``retry_after`` (seconds); the response also has an integer ``Retry-After`` header."""

    code = ErrorCode.RATE_LIMITED


def problem_body(
    *,
    code: ErrorCode,
    detail: str,
    request_id: str | None,
    instance: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """RFC 9457 problem details: the standard members plus ``code`` and ``request_id``."""
    body: dict[str, Any] = {
        "type": f"https://docs.asteri.dev/problems/{code.value.lower().replace('_', '-')}",
        "title": _TITLE[code],
        "status": status_for(code),
        "detail": detail,
        "code": code.value,
        "request_id": request_id,
    }
    if instance is not None:
        body["instance"] = instance
    for key, value in (extensions or {}).items():
        if key not in ("code", "status"):
            body[key] = value
    return body
