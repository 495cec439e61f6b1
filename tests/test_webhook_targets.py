"""The SSRF guard: every non-public address class, URL rules at registration, and the
connect-time pin, against real servers on loopback (allowed only with the setting)."""

import asyncio
import datetime as dt
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import ip_address
from pathlib import Path
from typing import NoReturn

import httpx2 as httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook

from asteri.kit.settings import Settings
from asteri.webhooks.secrets import new_webhook_secret
from asteri.webhooks.signing import signature_headers
from asteri.webhooks.targets import (
    PinnedTarget,
    TargetRefused,
    address_class,
    pin_target,
    validate_target_url,
)

DEV = Settings()
OPEN = Settings(webhooks_allow_private_targets=True)
PROD_SECRETS = {
    "key_pepper": "p" * 40,
    "session_secret": "s" * 40,
    "webhook_secret_key": "7bS3uRfsQcEB2NExIeWl_Q7XIpy6TsEPgZdag2zmauc=",
}
PROD = Settings(mode="production", **PROD_SECRETS)  # type: ignore[arg-type]
PROD_OPEN = Settings(mode="production", webhooks_allow_private_targets=True, **PROD_SECRETS)  # type: ignore[arg-type]

ADDRESSES = [
    # (address, class; None = public)
    ("0.0.0.0", "unspecified"),  # noqa: S104 (a value under test, not a bind)
    ("::", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "link_local"),  # cloud metadata service
    ("169.254.0.1", "link_local"),
    ("fe80::1", "link_local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("100.64.0.1", "shared"),  # CGNAT
    ("100.127.255.254", "shared"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),  # ULA
    ("fd12:3456:789a::1", "private"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "private"),  # documentation (TEST-NET-1)
    ("198.18.0.1", "private"),  # benchmarking
    ("2001:db8::1", "private"),  # documentation
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped forms
    ("::ffff:169.254.169.254", "link_local"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:100.64.0.1", "shared"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "link_local"),  # NAT64 of 169.254.169.254
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:c0a8:101::", "private"),  # 6to4 of 192.168.1.1
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("93.184.215.14", None),
    ("100.63.255.255", None),  # just below CGNAT
    ("100.128.0.0", None),  # just above
    ("172.32.0.1", None),  # just outside 172.16/12
    ("2606:4700:4700::1111", None),
    ("::ffff:8.8.8.8", None),  # a mapped public address is that public address
    ("64:ff9b::808:808", None),
]


@pytest.mark.parametrize(("address", "kind"), ADDRESSES)
def test_address_classes(address: str, kind: str | None) -> None:
    assert address_class(ip_address(address)) == kind


@pytest.mark.parametrize(("address", "kind"), [a for a in ADDRESSES if a[1] is not None])
def test_a_non_public_literal_is_refused_at_registration_unless_allowed(
    address: str, kind: str
) -> None:
    host = f"[{address}]" if ":" in address else address
    url = f"https://{host}/hook"
    with pytest.raises(TargetRefused, match=f"a {kind} address") as refused:
        validate_target_url(url, DEV)
    assert refused.value.reason == "private_address"
    assert validate_target_url(url, OPEN) == url


@pytest.mark.parametrize(
    ("url", "settings", "reason"),
    [
        ("ftp://hooks.example.com/x", DEV, "scheme"),
        ("file:///etc/passwd", DEV, "scheme"),
        ("gopher://hooks.example.com/", OPEN, "scheme"),
        ("hooks.example.com/x", DEV, "scheme"),
        ("http://hooks.example.com/x", PROD, "https_required"),
        ("https://user:pw@hooks.example.com/x", DEV, "userinfo"),
        ("https://user@hooks.example.com/x", OPEN, "userinfo"),
        ("https://@hooks.example.com/x", DEV, "userinfo"),
        ("https:///x", DEV, "no_host"),
        ("https://", DEV, "no_host"),
        ("https://hooks.example.com:99999/x", DEV, "port"),
        ("https://hooks.example.com:0/x", DEV, "port"),
        ("https://hooks.example.com:http/x", DEV, "port"),
        ("https://10.0.0.5/x", PROD, "private_address"),
    ],
)
def test_refused_at_registration(url: str, settings: Settings, reason: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        validate_target_url(url, settings)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("url", "settings"),
    [
        ("https://hooks.example.com/asteri?x=1", DEV),
        ("https://hooks.example.com:8443/asteri", PROD),
        ("http://hooks.example.com/asteri", DEV),  # plain http outside production
        ("http://hooks.example.com/asteri", PROD_OPEN),  # or with the setting
        ("https://8.8.8.8/asteri", PROD),
        ("https://[2606:4700:4700::1111]/asteri", PROD),
    ],
)
def test_accepted_at_registration(url: str, settings: Settings) -> None:
    assert validate_target_url(url, settings) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:9/hook",  # a name that resolves to loopback: the rebinding case
        "http://127.0.0.1:9/hook",
        "http://2130706433:9/hook",  # 127.0.0.1 as one integer
        "http://127.1:9/hook",  # and abbreviated
        "http://0x7f.0.0.1:9/hook",  # and in hex
        "http://0:9/hook",  # 0.0.0.0
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_refused_at_connect_time_by_what_the_host_resolves_to(url: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        asyncio.run(pin_target(url, DEV))
    assert refused.value.reason == "private_address"


def test_a_name_that_passes_registration_is_still_refused_at_connect_time() -> None:
    """``localhost`` is a name, so registration (no DNS) accepts it; the connection, which
    checks what it resolves to right before connecting, does not."""
    url = "http://localhost:8080/hook"
    assert validate_target_url(url, DEV) == url
    with pytest.raises(TargetRefused, match=r"localhost is (127\.0\.0\.1|::1), a loopback"):
        asyncio.run(pin_target(url, DEV))


def test_a_public_literal_is_pinned_as_is() -> None:
    pinned = asyncio.run(pin_target("https://8.8.8.8/hook?x=1", PROD))
    assert pinned == PinnedTarget(
        url="https://8.8.8.8:443/hook?x=1",
        address="8.8.8.8",
        host_header="8.8.8.8",
        sni_hostname=None,
    )
    assert pinned.extensions == {}
    v6 = asyncio.run(pin_target("http://[2606:4700:4700::1111]:8080/h", DEV))
    assert v6.url == "http://[2606:4700:4700::1111]:8080/h"
    assert v6.host_header == "[2606:4700:4700::1111]:8080"


def test_an_address_literal_is_vetted_without_a_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lookup(*_args: object, **_kwargs: object) -> NoReturn:
        raise AssertionError("an address literal was looked up")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    assert asyncio.run(pin_target("https://8.8.8.8/hook", PROD)).address == "8.8.8.8"
    for url in ("http://127.0.0.1:9/hook", "http://[::ffff:127.0.0.1]:9/hook"):
        with pytest.raises(TargetRefused) as refused:
            asyncio.run(pin_target(url, DEV))
        assert refused.value.reason == "private_address"


def test_connect_time_checks_the_url_rules_too() -> None:
    with pytest.raises(TargetRefused) as refused:
        asyncio.run(pin_target("http://8.8.8.8/hook", PROD))
    assert refused.value.reason == "https_required"


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read what the receiver recorded, not its log."""


@contextmanager
def _server(
    tls: ssl.SSLContext | None = None,
) -> Iterator[tuple[int, list[tuple[dict[str, str], bytes]]]]:
    seen: list[tuple[dict[str, str], bytes]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


async def _deliver(url: str, settings: Settings, **client: object) -> tuple[PinnedTarget, int]:
    """What the delivery worker will do: pin, sign, post to the pinned address."""
    pinned = await pin_target(url, settings)
    headers = signature_headers("msg_test", b'{"ok":true}', [SECRET])
    async with httpx.AsyncClient(**client) as http_client:  # type: ignore[arg-type]
        response = await http_client.post(
            pinned.url,
            content=b'{"ok":true}',
            headers={"Host": pinned.host_header, "content-type": "application/json", **headers},
            extensions=pinned.extensions,
            follow_redirects=False,
        )
    return pinned, response.status_code


SECRET = new_webhook_secret()


def test_with_the_setting_a_real_local_server_gets_a_signed_delivery() -> None:
    with _server() as (port, seen):
        pinned, status = asyncio.run(_deliver(f"http://localhost:{port}/hook", OPEN))
        assert status == 204
        assert pinned.address in ("127.0.0.1", "::1")
        if pinned.address == "::1":  # our server listens on IPv4 only
            pytest.fail("localhost resolved to ::1 first on this machine")
        assert pinned.url == f"http://127.0.0.1:{port}/hook"
        ((headers, body),) = seen
        assert headers["host"] == f"localhost:{port}"  # the name, though we dialled the address
        assert body == b'{"ok":true}'
        assert Webhook(SECRET.reveal()).verify(body, headers) == {"ok": True}


def test_without_the_setting_the_local_server_is_never_contacted() -> None:
    with _server() as (port, seen):
        for url in (f"http://localhost:{port}/hook", f"http://127.0.0.1:{port}/hook"):
            with pytest.raises(TargetRefused):
                asyncio.run(_deliver(url, DEV))
        assert seen == []


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for a certificate naming only ``localhost``, and a client context
    trusting just that certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp / "cert.pem"
    key_pem = tmp / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_pem, key_pem)
    client = ssl.create_default_context(cafile=str(cert_pem))
    return server, client


def test_https_dials_the_address_but_checks_the_certificate_for_the_name(tmp_path: Path) -> None:
    """SNI and the certificate check use the original name: a certificate for ``localhost``
    is accepted on a connection to 127.0.0.1, and without the pinned SNI it is not."""
    server_tls, client_tls = _self_signed(tmp_path)
    with _server(server_tls) as (port, seen):
        url = f"https://localhost:{port}/hook"
        pinned, status = asyncio.run(_deliver(url, OPEN, verify=client_tls))
        assert status == 204
        assert pinned.url == f"https://127.0.0.1:{port}/hook"
        assert pinned.extensions == {"sni_hostname": "localhost"}
        assert seen[0][0]["host"] == f"localhost:{port}"

        async def without_sni() -> None:
            async with httpx.AsyncClient(verify=client_tls) as http_client:
                await http_client.post(
                    pinned.url, content=b"{}", headers={"Host": pinned.host_header}
                )

        with pytest.raises(httpx.ConnectError, match=r"not valid for .127\.0\.0\.1"):
            asyncio.run(without_sni())
        assert len(seen) == 1
