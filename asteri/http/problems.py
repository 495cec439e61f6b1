"""Every error leaving FastAPI is RFC 9457 ``application/problem+json``; never a stack trace.

Each problem's ``type`` is its page under the app's public URL: ``install_problem_handlers``
keeps the base on ``app.state`` (``create_app`` passes ``settings.public_url``), and
``problem_response`` reads it back from the app that answers — so every problem this app
renders, from a handler or a middleware, names the same portal, and no module global is set.
"""

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from asteri.kit.errors import ApiError, BadUserInput, ErrorCode, FieldError, problem_body

__all__ = ["install_problem_handlers", "problem_response", "public_url_of"]

log = logging.getLogger("asteri.http")

_BY_STATUS = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.BAD_USER_INPUT,
    429: ErrorCode.RATE_LIMITED,
}


def public_url_of(request: Request) -> str:
    """The portal base of the app answering ``request`` (``install_problem_handlers``)."""
    public_url: str = request.app.state.public_url
    return public_url


def problem_response(
    request: Request,
    code: ErrorCode,
    detail: str,
    extensions: dict[str, Any] | None = None,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = problem_body(
        code=code,
        detail=detail,
        request_id=getattr(request.state, "request_id", None),
        public_url=public_url_of(request),
        instance=request.url.path,
        extensions=extensions,
    )
    return Response(
        orjson.dumps(body),
        status_code=status or body["status"],
        media_type="application/problem+json",
        headers=headers,
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(request, exc.code, exc.detail, exc.extensions())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _BY_STATUS.get(exc.status_code, ErrorCode.BAD_REQUEST)
    detail = exc.detail if isinstance(exc.detail, str) else code.value
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # The router answers for the first route that matched the path; the path may have
        # others (GET, PATCH and DELETE of one object are three routes).
        allowed = _methods_of(request, headers.get("Allow", ""))
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}."
    return problem_response(request, code, detail, status=exc.status_code, headers=headers)


def _methods_of(request: Request, fallback: str) -> list[str]:
    """Every method the app answers at this path (``app.state.methods``, a ``PathMethods``)."""
    table = getattr(request.app.state, "methods", None)
    found = table.at(request.url.path) if table is not None else []
    return found or [m.strip() for m in fallback.split(",") if m.strip()]


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's request validation → 422 with pointers into the body or query (or a 400 for
    a body that is not JSON at all)."""
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem_response(
            request, ErrorCode.BAD_REQUEST, "The request body is not valid JSON."
        )
    errors = [
        FieldError("/" + "/".join(str(p) for p in _within(e.get("loc", ()))), str(e.get("msg", "")))
        for e in raw
    ]
    err = BadUserInput("The request is invalid; `errors` names each field.", errors=errors)
    return problem_response(request, err.code, err.detail, err.extensions())


def _within(loc: Any) -> list[Any]:
    """Drop FastAPI's location prefix: ("body", "display_name") → ["display_name"]."""
    parts = list(loc)
    return parts[1:] if parts and parts[0] in ("body", "query", "path", "header") else parts


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The caller hung up mid-request (a load test ending, a timeout): not an incident."""
    log.info("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=499)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request,
        ErrorCode.INTERNAL_SERVER_ERROR,
        "Internal server error. Quote the request id when you contact support.",
    )


def install_problem_handlers(app: FastAPI, *, public_url: str) -> None:
    """Every error becomes a problem whose ``type`` is a page under ``public_url``."""
    app.state.public_url = public_url
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
