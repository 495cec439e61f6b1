"""The HTML pages we serve (the API reference here; GraphiQL in ``graphiql.py``), and the
policy that every HTML response carries.

Every asset a page loads is pinned by its Subresource Integrity hash, so a changed file is
refused by the browser rather than run, and every ``text/html`` response gets a
Content-Security-Policy: no default source; requests back to this origin only; never framed;
scripts (and styles) from this origin, or inline ones whose sha256 the policy lists (computed
from the page itself). That strict policy is the default (GraphiQL: its assets are ours). The
reference (Swagger UI) is the one page still loading its assets from a CDN, pinned to one
version: its own policy (``REFERENCE_POLICY``) adds that CDN, and inline styles, which Swagger
UI sets at run time.
"""

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HtmlPolicyMiddleware", "content_security_policy", "reference_page", "reference_policy"]

_CDN = "https://cdn.jsdelivr.net"
# swagger-ui-dist 5.32.0, as npm publishes it (jsDelivr serves those very bytes).
_SWAGGER = f"{_CDN}/npm/swagger-ui-dist@5.32.0"
_SWAGGER_JS_SRI = "sha384-7xcoc6ZKDFF7Ek627QTC3Bg/K+5Y36NJ8MWAE43D2m6+3Sh9XO3tdsfHhrS8gNIQ"
_SWAGGER_CSS_SRI = "sha384-3nuX7df3EaAoiqLBeyS1Ola0Gpg9ryJKVtarubwfnA1cOH8AWHUdbPSIvEqPZ9VH"
_INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE
)
_INLINE_STYLE = re.compile(rb"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
_POLICY = b"content-security-policy"


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


def content_security_policy(html: bytes, *, cdn: str = "") -> str:
    """The policy for one page: this origin's scripts and styles, and its own inline scripts
    and styles by their hashes, no others. With ``cdn``: that origin's too, and any inline
    style (the reference's widgets set theirs at run time)."""
    sources = cdn or "'self'"
    styles = f"{cdn} 'unsafe-inline'" if cdn else f"'self' {_hashes(_INLINE_STYLE, html)}"
    directives = [
        "default-src 'none'",
        f"script-src {sources} {_hashes(_INLINE_SCRIPT, html)}",
        f"style-src {styles}",
        f"img-src 'self' data: {cdn}",
        f"font-src {sources} data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
    return "; ".join(" ".join(directive.split()) for directive in directives)


def _hashes(pattern: re.Pattern[bytes], html: bytes) -> str:
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in pattern.findall(html)
    )


def reference_policy(page: str) -> dict[str, str]:
    """The reference page's own policy header: the strict one, plus the CDN it loads from."""
    return {"content-security-policy": content_security_policy(page.encode(), cdn=_CDN)}


class HtmlPolicyMiddleware:
    """Adds ``content_security_policy`` of the page to every ``text/html`` response that does
    not carry a policy of its own (the reference's)."""

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
                sent = dict(message.get("headers", []))
                content_type = sent.get(b"content-type", b"")
                if not content_type.startswith(b"text/html") or _POLICY in sent:
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
                (_POLICY, policy),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, buffered)
