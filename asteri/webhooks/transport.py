"""The worker's HTTP transport: httpx's own, with a cheaper check of idle connections.

httpx's connection pool asks every idle connection whether the server closed it each time a
request joins or leaves the pool (``get_extra_info("is_readable")``: a readable idle socket
can only be about to read the server's close). The stock stream answers through anyio's
typed attributes, which rebuild a table of every attribute (and call ``getpeername``) per
question: with dozens of idle keep-alive connections that was most of a delivery's CPU. Our
stream looks its socket up once and polls it, which is the same check.

Nothing else changes: the same pool, limits, TLS context and timeouts as
``httpx.AsyncHTTPTransport``, the same anyio connections. Where to connect is still decided
by the SSRF guard (``webhooks/targets.py``), whose pinned address is the URL's host.
"""

import select
import ssl
from typing import Any

import httpcore2 as httpcore
import httpx2 as httpx

__all__ = ["WebhookTransport"]


def _readable(sock: Any) -> bool:
    """Whether ``sock`` has something to read now (or is gone: then the next read ends)."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    # The timeout parameters are httpcore's interface (ASYNC109), passed on as they come.

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(*args, **kwargs))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class WebhookTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport(trust_env=False, limits=limits)`` on our streams."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )
