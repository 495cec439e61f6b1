"""The SSRF guard: a webhook may only reach the public internet.

A webhook URL is chosen by a tenant and fetched by our servers, so without a guard it could
reach our own network: the cloud metadata service (169.254.169.254), the database, admin ports
on loopback. Two checks:

- **At registration** (``validate_target_url``): http or https only, https in production, no
  userinfo (``https://user:pw@…``), a host, a valid port; a host written as an IP address must
  be public. No DNS here: what a name resolves to can change.
- **At every connection** (``pin_target``): resolve the name once (``getaddrinfo``, in a
  thread; a host written as an IP address is its own only address, with no lookup), refuse
  it if *any* of its addresses is not public, and return the vetted address.
  The client connects to that address with the original name as ``Host`` and as TLS SNI (and
  certificate check), so a name that resolves to a public address when checked and to
  127.0.0.1 when connected (DNS rebinding) is never re-resolved behind the check. The worker
  must not follow redirects: a redirect is a new target, to be pinned like this one.

Not public: unspecified, loopback, link-local (the metadata service), multicast, CGNAT's shared
100.64.0.0/10, reserved, private (RFC 1918, ULA fc00::/7) and every other non-global range
(documentation, benchmarking), and IPv6 forms that embed one of those (IPv4-mapped
``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``). Odd spellings
(``http://2130706433/``, ``http://127.1/``) are caught at connect time, by what they resolve to.
``ASTERI_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true`` lifts the address checks and the https rule
(local development and tests).
"""

import asyncio
import socket
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import SplitResult, urlsplit

from asteri.kit.settings import Settings

__all__ = [
    "PinnedTarget",
    "TargetRefused",
    "address_class",
    "pin_target",
    "validate_target_url",
]

_SHARED = ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_NAT64 = ip_network("64:ff9b::/96")  # RFC 6052


class TargetRefused(ValueError):
    """A webhook target we will not deliver to; ``reason`` says why, in one word."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def address_class(address: IPv4Address | IPv6Address) -> str | None:
    """Why ``address`` is not a public delivery target, or None when it is."""
    if isinstance(address, IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            return address_class(embedded)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address in _SHARED:
        return "shared"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not_global"
    return None


def _check_address(address: IPv4Address | IPv6Address, host: str) -> None:
    kind = address_class(address)
    if kind is not None:
        raise TargetRefused(
            "private_address", f"{host} is {address}, a {kind} address, not a public one"
        )


def _literal(host: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def _split(url: str, settings: Settings) -> SplitResult:
    parts = urlsplit(url.strip())
    allow_private = settings.webhooks_allow_private_targets
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("scheme", "a webhook URL is http or https")
    if parts.scheme == "http" and settings.mode == "production" and not allow_private:
        raise TargetRefused("https_required", "a webhook URL is https")
    if "@" in parts.netloc:
        raise TargetRefused("userinfo", "a webhook URL carries no user name or password")
    if not parts.hostname:
        raise TargetRefused("no_host", "a webhook URL names a host")
    try:
        parts.port  # noqa: B018 (parses it: out of range or not a number raises)
    except ValueError as exc:
        raise TargetRefused("port", "a webhook URL's port is 1 to 65535") from exc
    if parts.port == 0:
        raise TargetRefused("port", "a webhook URL's port is 1 to 65535")
    return parts


def validate_target_url(url: str, settings: Settings) -> str:
    """The URL, stripped, if it may be registered; else ``TargetRefused``."""
    parts = _split(url, settings)
    literal = _literal(parts.hostname or "")
    if literal is not None and not settings.webhooks_allow_private_targets:
        _check_address(literal, parts.hostname or "")
    return parts.geturl()


@dataclass(frozen=True)
class PinnedTarget:
    """Where to connect for one attempt: the vetted address in ``url``, the original name in
    ``host_header`` and, for https, ``sni_hostname``. With httpx::

        client.post(t.url, content=body, headers={"Host": t.host_header, **signed},
                    extensions=t.extensions, follow_redirects=False)
    """

    url: str
    address: str
    host_header: str
    sni_hostname: str | None
    extensions: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        extensions = {"sni_hostname": self.sni_hostname} if self.sni_hostname else {}
        object.__setattr__(self, "extensions", extensions)


async def _resolve(host: str, port: int) -> list[IPv4Address | IPv6Address]:
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused("unresolvable", f"{host} does not resolve") from exc
    addresses = [ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    if not addresses:
        raise TargetRefused("unresolvable", f"{host} does not resolve")
    return addresses


async def pin_target(url: str, settings: Settings) -> PinnedTarget:
    """Validates ``url``, resolves its host once and vets every address (``TargetRefused``
    if any is not public), and returns the first address to connect to."""
    parts = _split(url, settings)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = _literal(host)
    if literal is not None and "%" not in host:  # an address is its own and only one
        addresses = [literal]
    else:
        addresses = await _resolve(host, port)
    if not settings.webhooks_allow_private_targets:
        for address in addresses:
            _check_address(address, host)
    chosen = addresses[0]
    shown = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    pinned = parts._replace(netloc=f"{shown}:{port}").geturl()
    host_header = parts.netloc.rpartition("@")[2]
    sni = host if parts.scheme == "https" and literal is None else None
    return PinnedTarget(url=pinned, address=str(chosen), host_header=host_header, sni_hostname=sni)
