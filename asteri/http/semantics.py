"""HTTP semantics the routes alone do not give, for every path alike.

- ``HEAD`` is answered wherever ``GET`` is: the ``GET`` runs, its headers are sent, its body
  is not (RFC 9110 §9.3.2).
- A REST body that is not JSON is a 415 problem, before anything parses it. A body-less
  request (an action such as ``archive``) needs no content type.

A 405's ``Allow`` (every method of the path, not one route's) is set by the problem handler
(``problems.py``); a trailing slash is a 404, never a redirect (``redirect_slashes=False``).
"""

from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asteri.http.problems import problem_response
from asteri.kit.errors import ErrorCode

__all__ = ["HttpSemanticsMiddleware", "PathMethods", "is_json"]

_WITH_BODY = {"POST", "PUT", "PATCH"}


def is_json(content_type: str) -> bool:
    """``application/json`` or any ``application/…+json``, parameters (charset) aside."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class HttpSemanticsMiddleware:
    def __init__(self, app: ASGIApp, *, rest_prefix: str, graphql_path: str) -> None:
        self.app = app
        self.rest_prefix = rest_prefix
        self.graphql_path = graphql_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        if scope["method"] in _WITH_BODY and self._is_rest(scope["path"]):
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if _has_body(headers) and not is_json(content_type):
                request = Request(scope)
                detail = (
                    f"The body must be JSON (`application/json`), not `{content_type}`."
                    if content_type
                    else "The body must be JSON: send `Content-Type: application/json`."
                )
                await problem_response(request, ErrorCode.UNSUPPORTED_MEDIA_TYPE, detail)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)

    def _is_rest(self, path: str) -> bool:
        return path.startswith(self.rest_prefix) and not path.startswith(self.graphql_path)


class PathMethods:
    """Path templates → the methods answered there, for a 405's ``Allow``: the router only
    knows the first route that matched, and one path is often several routes."""

    def __init__(self, routes: list[tuple[str, str]]) -> None:
        by_path: dict[str, set[str]] = {}
        for path, method in routes:
            by_path.setdefault(path, set()).add(method)
        self._table = [(compile_path(path)[0], methods) for path, methods in by_path.items()]

    def at(self, path: str) -> list[str]:
        methods: set[str] = set()
        for pattern, answered in self._table:
            if pattern.match(path):
                methods |= answered
        if "GET" in methods:
            methods.add("HEAD")  # HEAD is answered wherever GET is (above)
        return sorted(methods)


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return b"transfer-encoding" in headers


def _without_body(send: Send) -> Send:
    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return  # the rest of the GET's body: not sent
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return send_headers_only
