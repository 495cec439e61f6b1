"""CORS for the origins listed in ``ASTERI_CORS_ORIGINS`` (comma-separated, empty by default).

A listed origin gets its preflight answered (204) allowing our methods and request headers,
and every response to it names the origin and exposes the headers a browser client needs
(rate limits, the request id, replays, locations, a preview's stability). Any other origin
gets no CORS header at all: its preflight reaches the app like any ``OPTIONS`` (a 405
problem), and the browser refuses the call. Credentials travel in headers, never cookies, so no
``Access-Control-Allow-Credentials``.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ALLOWED_HEADERS", "EXPOSED_HEADERS", "CorsMiddleware"]

ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "idempotency-key",
    "x-api-key",
    "x-organization-id",
    "x-request-id",
)
EXPOSED_HEADERS = (
    "idempotent-replayed",
    "location",
    "ratelimit",
    "ratelimit-policy",
    "retry-after",
    "x-request-id",
    "x-stability",
)
_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST"
_MAX_AGE = "600"


class CorsMiddleware:
    def __init__(self, app: ASGIApp, *, origins: frozenset[str]) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin not in self.origins:
            await self.app(scope, receive, send)
            return
        allow_origin = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *allow_origin,
                        (b"access-control-allow-methods", _METHODS.encode()),
                        (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
                        (b"access-control-max-age", _MAX_AGE.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        exposed = (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode())

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *allow_origin, exposed]
            await send(message)

        await self.app(scope, receive, with_cors)
