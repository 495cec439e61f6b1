"""The one home of error shapes: stable codes, their HTTP statuses, GraphQL and RFC 9457 forms.

Resolvers raise ``ApiError`` subclasses; the GraphQL layer copies ``extensions()`` onto the
GraphQL error and the REST layer renders ``problem_body()``. Nothing else invents an error
shape. The words — each code's status, title, cause and fix, and every ``reason`` — are the
catalogue's (``kit/problem_catalogue.py``): an error whose ``reason`` it does not declare under
the error's code is refused when it is made (``UndeclaredReason``).

A problem's ``type`` is its page on the developer portal,
``<public_url>/developers/problems/<code-slug>`` (``problem_type``). ``problem_body`` takes the
base as an argument rather than reading settings: the app that answers passes its own
(``http/problems.py`` reads what ``create_app`` gave ``install_problem_handlers``), so this
stays a pure function and two apps with different settings in one process each name theirs.
GraphQL errors carry no ``type`` (their ``extensions`` have ``code`` and ``reason``, whose
pages are found the same way); only the REST problem document does.
"""

from dataclasses import dataclass
from typing import Any

from asteri.kit.problem_catalogue import PROBLEMS, PROBLEMS_PATH, REASONS, ErrorCode, slug_of

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
    "UndeclaredReason",
    "check_reason",
    "problem_body",
    "problem_type",
    "status_for",
]


def status_for(code: ErrorCode) -> int:
    return PROBLEMS[code].status


def problem_type(code: ErrorCode, public_url: str) -> str:
    """The problem's ``type``: its page under the portal at ``public_url`` (no trailing ``/``)."""
    return f"{public_url}{PROBLEMS_PATH}/{slug_of(code)}"


class UndeclaredReason(TypeError):
    """A ``reason`` the catalogue does not declare under the error's code: a programming error,
    refused where the error is made so it cannot reach a caller undocumented."""


def check_reason(code: ErrorCode, reason: Any) -> None:
    """``reason`` (if any) is one the catalogue declares for ``code``, else ``UndeclaredReason``."""
    if reason is None:
        return
    declared = REASONS.get(reason) if isinstance(reason, str) else None
    if declared is None:
        raise UndeclaredReason(
            f"reason {reason!r} is not in the error catalogue (kit/problem_catalogue.py)"
        )
    if declared.code is not code:
        raise UndeclaredReason(
            f"reason {reason!r} is catalogued under {declared.code.value}, not {code.value}"
        )


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
        check_reason(self.code, extra.get("reason"))
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
    public_url: str,
    instance: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """RFC 9457 problem details: the standard members plus ``code`` and ``request_id``; the
    ``type`` is the problem's page under ``public_url`` (``problem_type``)."""
    extensions = extensions or {}
    check_reason(code, extensions.get("reason"))
    problem = PROBLEMS[code]
    body: dict[str, Any] = {
        "type": problem_type(code, public_url),
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
        "code": code.value,
        "request_id": request_id,
    }
    if instance is not None:
        body["instance"] = instance
    for key, value in extensions.items():
        if key not in ("code", "status"):
            body[key] = value
    return body
