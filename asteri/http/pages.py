"""The HTML pages we serve (the API reference; GraphiQL is strawberry's), and the policy that
every HTML response carries.

Assets come from public CDNs pinned to one version, each with its Subresource Integrity hash,
so a changed file is refused by the browser rather than run. Every ``text/html`` response gets
a Content-Security-Policy: no default source; scripts only from those CDNs or inline scripts
whose sha256 the policy lists (computed from the page itself); requests back to this origin
only; never framed. Styles may be inline (the pages' widgets set them at run time).
"""

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HtmlPolicyMiddleware", "content_security_policy", "reference_page"]

_CDNS = "https://unpkg.com https://cdn.jsdelivr.net"
# swagger-ui-dist 5.32.0, as npm publishes it (jsDelivr serves those very bytes).
_SWAGGER = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.32.0"
_SWAGGER_JS_SRI = "sha384-7xcoc6ZKDFF7Ek627QTC3Bg/K+5Y36NJ8MWAE43D2m6+3Sh9XO3tdsfHhrS8gNIQ"
_SWAGGER_CSS_SRI = "sha384-3nuX7df3EaAoiqLBeyS1Ola0Gpg9ryJKVtarubwfnA1cOH8AWHUdbPSIvEqPZ9VH"
_INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE
)


def reference_page(openapi_url: str, title: str) -> str:
    """The REST reference: Swagger UI over our OpenAPI document."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{_SWAGGER}/swagger-ui.css" integrity="{_SWAGGER_CSS_SRI}"
  crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_SWAGGER}/swagger-ui-bundle.js" integrity="{_SWAGGER_JS_SRI}"
  crossorigin="anonymous"></script>
<script>SwaggerUIBundle({{url: "{openapi_url}", dom_id: "#swagger-ui"}});</script>
</body>
</html>
"""


def content_security_policy(html: bytes) -> str:
    """The policy for one page: its inline scripts are allowed by their hashes, no others."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return (
        "default-src 'none'; "
        f"script-src {_CDNS} {hashes}; "
        f"style-src {_CDNS} 'unsafe-inline'; "
        f"img-src 'self' data: {_CDNS}; "
        f"font-src {_CDNS} data:; "
        "connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    )


class HtmlPolicyMiddleware:
    """Adds ``content_security_policy`` of the page to every ``text/html`` response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = b""

        async def buffered(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if not content_type.startswith(b"text/html"):
                    await send(message)
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body", False):
                return
            policy = content_security_policy(body).encode()
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            headers += [
                (b"content-security-policy", policy),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, buffered)
