"""Who is calling: the client address the failed-authentication budget is kept per.

The address is the TCP peer, unless that peer is one of our own proxies
(``ASTERI_TRUSTED_PROXIES``: addresses or networks, comma-separated, empty by default). Then
it is the nearest address in ``X-Forwarded-For`` that is not one of them, read from the right:
each proxy appends the peer it saw, so everything left of the first address we do not trust
could have been written by the caller. Uvicorn's own reading of the header is off
(``UVICORN_OPTIONS``): it trusts loopback by default, which would let any local caller
choose its address.
"""

import ipaddress
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

__all__ = ["UVICORN_OPTIONS", "Networks", "client_address"]

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]

# How every server we start runs the app (the CLI's and the tests' alike).
UVICORN_OPTIONS: dict[str, Any] = {"proxy_headers": False, "server_header": False}


def _trusted(address: str, trusted: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(request: Request, trusted: Networks) -> str:
    peer = request.client.host if request.client is not None else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where an address should be: trust none of it
    return peer
