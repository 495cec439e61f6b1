"""``x-request-id`` on every response: the caller's if it is sane, else a new one.

The same step adds the headers a request left in ``request.state.response_headers`` (the rate
limit fields, set during authentication) and ``request.state.route_headers`` (what the route
says of every answer: ``x-stability``), so they reach every response: success, problem or
GraphQL error alike; ``X-Content-Type-Options: nosniff`` on every response; and on a 401, the
``WWW-Authenticate`` challenge (RFC 9110 §11.6.1) naming both credentials we accept.
"""

import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CHALLENGE", "REQUEST_ID_HEADER", "RequestIdMiddleware"]

REQUEST_ID_HEADER = "x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_NOSNIFF = (b"x-content-type-options", b"nosniff")
CHALLENGE = 'ApiKey realm="asteri", header="x-api-key", Bearer realm="asteri"'
_CHALLENGE = (b"www-authenticate", CHALLENGE.encode())


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it runs on every request, so it stays cheap."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _SANE.match(incoming) else f"req_{secrets.token_hex(12)}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                challenge = (_CHALLENGE,) if message["status"] == 401 else ()
                message["headers"] = [
                    *message.get("headers", []),
                    header,
                    _NOSNIFF,
                    *challenge,
                    *(state.get("response_headers") or ()),
                    *(state.get("route_headers") or ()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)
