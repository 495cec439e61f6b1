"""Per-key rate limits through HTTP, on both limiters (in-process and a real Redis).

Windows are fixed and aligned to the clock, so a test that counts first makes sure it cannot
cross a minute (or day) boundary halfway: ``fresh_minute`` waits one out if fewer than
``MARGIN`` seconds are left. No other sleeps.
"""

import asyncio
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from asteri.app import create_app
from asteri.authz.limits import spend_auth_failure
from asteri.kit.errors import RateLimited, Unauthenticated
from asteri.kit.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, Window
from asteri.kit.settings import Settings
from tests.factories import REST, Api, Credential, redis_namespace, redis_test_url
from tests.servers import serving

MARGIN = 10.0
VIEWER = "{ viewer { credentialId } }"
LIMITERS = ["memory", "redis"] if redis_test_url() else ["memory"]


def fresh_minute() -> None:
    """Return with at least ``MARGIN`` seconds left in the current minute (and day)."""
    left = 60 - time.time() % 60
    if left < MARGIN:
        time.sleep(left + 0.05)


def retry_after(response: httpx.Response) -> int:
    value = response.headers["retry-after"]
    assert value.isdigit(), value
    return int(value)


def ratelimit(response: httpx.Response) -> tuple[str, int, int]:
    """(window, remaining, seconds to reset) from the ``RateLimit`` field."""
    match = re.fullmatch(r'"(\w+)";r=(\d+);t=(\d+)', response.headers["ratelimit"])
    assert match, response.headers["ratelimit"]
    return match.group(1), int(match.group(2)), int(match.group(3))


@pytest.fixture(scope="module", params=LIMITERS)
def limited_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    if request.param == "memory":
        yield settings.model_copy(update={"redis_url": None})
        return
    url = redis_test_url()
    assert url is not None
    with redis_namespace(url) as prefix:
        yield settings.model_copy(update={"redis_url": url, "redis_prefix": prefix})


@pytest.fixture(scope="module")
def limited_client(limited_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(limited_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def rl(limited_client: TestClient, engine: Engine, limited_settings: Settings) -> Api:
    fresh_minute()
    return Api(client=limited_client, engine=engine, settings=limited_settings)


def viewer(api: Api, cred: Credential) -> httpx.Response:
    return api.rest("GET", "/viewer", as_=cred)


def test_limiter_backend_is_the_one_asked_for(limited_client: TestClient) -> None:
    limiter = limited_client.app.state.rate_limiter  # type: ignore[attr-defined]
    wanted = RedisRateLimiter if limited_client.app.state.settings.redis_url else MemoryRateLimiter  # type: ignore[attr-defined]
    assert isinstance(limiter, wanted)


def test_minute_window_trips_on_its_own(rl: Api) -> None:
    cred = rl.key(per_minute=3, per_day=100)
    for remaining in (2, 1, 0):
        response = viewer(rl, cred)
        assert response.status_code == 200, response.text
        assert ratelimit(response)[:2] == ("minute", remaining)
    refused = viewer(rl, cred)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["status"] == 429
    assert body["window"] == "minute"
    assert body["limit"] == 3
    assert 1 <= body["retry_after"] <= 60
    assert retry_after(refused) == body["retry_after"]
    assert ratelimit(refused) == ("minute", 0, body["retry_after"])
    assert refused.headers["ratelimit-policy"] == '"minute";q=3;w=60, "day";q=100;w=86400'
    assert body["request_id"] == refused.headers["x-request-id"]
    assert body["instance"] == f"{REST}/viewer"


def test_day_window_trips_on_its_own(rl: Api) -> None:
    cred = rl.key(per_minute=100, per_day=2)
    for remaining in (1, 0):
        response = viewer(rl, cred)
        assert response.status_code == 200
        assert ratelimit(response)[:2] == ("day", remaining)
    refused = viewer(rl, cred)
    assert refused.status_code == 429
    body = refused.json()
    assert (body["code"], body["window"], body["limit"]) == ("RATE_LIMITED", "day", 2)
    assert 60 < body["retry_after"] <= 86_400  # fresh_minute keeps us off the midnight edge
    assert retry_after(refused) == body["retry_after"]
    assert ratelimit(refused) == ("day", 0, body["retry_after"])


def test_rest_and_graphql_spend_one_budget(rl: Api) -> None:
    cred = rl.key(per_minute=4, per_day=1000)
    assert viewer(rl, cred).status_code == 200
    assert rl.post(VIEWER, as_=cred).status_code == 200
    assert viewer(rl, cred).status_code == 200
    last = rl.post(VIEWER, as_=cred)
    assert last.status_code == 200
    assert ratelimit(last)[:2] == ("minute", 0)

    status, error = rl.error(VIEWER, as_=cred)
    assert status == 429
    ext = error["extensions"]
    assert (ext["code"], ext["window"], ext["limit"]) == ("RATE_LIMITED", "minute", 4)
    assert 1 <= ext["retry_after"] <= 60
    refused = rl.post(VIEWER, as_=cred)
    assert refused.status_code == 429
    assert retry_after(refused) == refused.json()["errors"][0]["extensions"]["retry_after"]
    assert viewer(rl, cred).status_code == 429


def test_graphql_over_the_limit_is_refused_before_parsing(rl: Api) -> None:
    """Over the limit, even a document that would not parse gets the 429: no work is done."""
    cred = rl.key(per_minute=1, per_day=1000)
    assert rl.post(VIEWER, as_=cred).status_code == 200
    for document in (VIEWER, "{ this is not graphql", "{ customers { nodes { nope } } }"):
        refused = rl.post(document, as_=cred)
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


def test_every_authenticated_response_counts_down(rl: Api) -> None:
    cred = rl.key(per_minute=50, per_day=1000)
    seen = []
    for _ in range(3):
        response = rl.post(VIEWER, as_=cred)
        assert response.status_code == 200
        assert "retry-after" not in response.headers
        assert response.headers["ratelimit-policy"] == '"minute";q=50;w=60, "day";q=1000;w=86400'
        window, remaining, reset = ratelimit(response)
        assert window == "minute"
        assert 1 <= reset <= 60
        seen.append(remaining)
    assert seen == [49, 48, 47]
    # A GraphQL error after authentication (here a 404) still tells the caller where they stand.
    missing = rl.post('{ customer(id: "cus_missing") { id } }', as_=cred)
    assert ratelimit(missing)[:2] == ("minute", 46)


def test_failed_authentication_spends_nothing(rl: Api) -> None:
    cred = rl.key(per_minute=2, per_day=1000)
    other_org = rl.org()
    for _ in range(5):
        wrong_org = viewer(rl, Credential(other_org, cred.key, cred.key_id, "live"))
        assert wrong_org.status_code == 403
        assert "ratelimit" not in wrong_org.headers
        no_org = rl.rest("GET", "/viewer", headers={"x-api-key": cred.key})
        assert no_org.status_code == 401
        assert "ratelimit" not in no_org.headers
    assert [viewer(rl, cred).status_code for _ in range(3)] == [200, 200, 429]


def test_a_refused_request_spends_nothing(rl: Api) -> None:
    # Were refusals counted, the day window (3) would fill and take over from the minute.
    cred = rl.key(per_minute=2, per_day=3)
    assert [viewer(rl, cred).status_code for _ in range(2)] == [200, 200]
    for _ in range(10):
        refused = viewer(rl, cred)
        assert refused.status_code == 429
        assert refused.json()["window"] == "minute"
        assert retry_after(refused) <= 60


def test_keys_do_not_share_budgets(rl: Api) -> None:
    first = rl.key(per_minute=2, per_day=1000)
    second = rl.key(org=first.organization_id, per_minute=2, per_day=1000)
    assert [viewer(rl, first).status_code for _ in range(3)] == [200, 200, 429]
    response = viewer(rl, second)
    assert response.status_code == 200
    assert ratelimit(response)[:2] == ("minute", 1)


# --- the limiters themselves, on a clock the test owns -------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


MakeLimiter = Callable[[Clock], RateLimiter]


@pytest.fixture(params=LIMITERS)
def make_limiter(request: pytest.FixtureRequest) -> Iterator[MakeLimiter]:
    """A factory: ``make_limiter(clock)`` → a limiter of the parametrized kind."""
    if request.param == "memory":
        yield lambda clock: MemoryRateLimiter(clock=clock)
        return
    url = redis_test_url()
    assert url is not None
    with redis_namespace(url) as prefix:
        yield lambda clock: RedisRateLimiter(url, prefix=prefix, clock=clock)


def test_refusals_do_not_spend_and_windows_reset(make_limiter: MakeLimiter) -> None:
    start = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC: a minute boundary
    clock = Clock(start)
    windows = [Window("minute", 60, 2), Window("day", 86_400, 5)]

    async def scenario() -> None:
        limiter: RateLimiter = make_limiter(clock)
        try:
            results = [await limiter.hit("key_a", windows) for _ in range(12)]
            assert [d.allowed for d in results] == [True, True] + [False] * 10
            refused = results[-1].refused
            assert refused is not None
            assert (refused.name, refused.remaining, refused.reset) == ("minute", 0, 60)
            clock.now += 59.5
            assert (await limiter.hit("key_a", windows)).refused.reset == 1  # type: ignore[union-attr]
            clock.now += 0.5  # the next minute: 2 more, then the day's 5 are spent
            more = [await limiter.hit("key_a", windows) for _ in range(3)]
            assert [d.allowed for d in more] == [True, True, False]
            clock.now += 60
            decision = await limiter.hit("key_a", windows)
            assert decision.allowed
            assert decision.tightest is not None
            assert (decision.tightest.name, decision.tightest.remaining) == ("day", 0)
            day = await limiter.hit("key_a", windows)
            assert day.refused is not None
            assert (day.refused.name, day.refused.reset) == ("day", 86_400 - start % 86_400 - 120)
            assert (await limiter.hit("key_b", windows)).allowed  # another key, another budget
        finally:
            await limiter.aclose()

    asyncio.run(scenario())


def test_memory_limiter_drops_ended_windows() -> None:
    clock = Clock(1_800_000_000.0)
    limiter = MemoryRateLimiter(clock=clock, sweep_every=30)
    windows = [Window("minute", 60, 10)]

    async def scenario() -> None:
        for i in range(100):
            await limiter.hit(f"key_{i}", windows)
        assert len(limiter) == 100
        clock.now += 61
        await limiter.hit("key_new", windows)
        assert len(limiter) == 1

    asyncio.run(scenario())


# --- Redis unreachable: fail open ------------------------------------------------------------


def test_redis_down_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(1_800_000_000.0)
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", prefix="down:", clock=clock)
    windows = [Window("minute", 60, 1)]

    async def scenario() -> None:
        try:
            with caplog.at_level(logging.WARNING, logger="asteri.ratelimit"):
                for step in (0, 2, 30, 61):  # one warning a minute, however many failures
                    clock.now = 1_800_000_000.0 + step
                    for _ in range(3):
                        decision = await limiter.hit("key_a", windows)
                        assert decision.allowed
                        assert decision.windows == ()
                        assert decision.headers() == []
        finally:
            await limiter.aclose()

    asyncio.run(scenario())
    warnings = [r for r in caplog.records if r.name == "asteri.ratelimit"]
    assert len(warnings) == 2
    assert "fail open" in warnings[0].getMessage()


def test_redis_down_serves_requests_without_ratelimit_fields(
    settings: Settings, engine: Engine
) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down), raise_server_exceptions=False) as client:
        api = Api(client=client, engine=engine, settings=down)
        cred = api.key(per_minute=1, per_day=1)
        for _ in range(3):
            response = viewer(api, cred)
            assert response.status_code == 200, response.text
            assert "ratelimit" not in response.headers
            assert "ratelimit-policy" not in response.headers


# --- two server processes, one Redis ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def two_servers(settings: Settings) -> Iterator[list[str]]:
    url = redis_test_url()
    if url is None:
        pytest.skip("ASTERI_TEST_REDIS_URL is unset: no shared Redis to test against")
    with redis_namespace(url) as prefix:
        env = {
            **os.environ,
            "ASTERI_DATABASE_URL": settings.database_url,
            "ASTERI_REDIS_URL": url,
            "ASTERI_REDIS_PREFIX": prefix,
            "ASTERI_KEY_PEPPER": settings.key_pepper.get_secret_value(),
        }
        ports = [_free_port(), _free_port()]
        procs = [
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "asteri.app:create_app", "--factory"),
                    *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
                ],
                env=env,
            )
            for port in ports
        ]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            deadline = time.monotonic() + 30
            for proc, base in zip(procs, bases, strict=True):
                while True:
                    assert proc.poll() is None, "server process exited"
                    assert time.monotonic() < deadline, "server did not start"
                    try:
                        httpx.get(f"{base}{REST}/openapi.json", timeout=1)
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
            yield bases
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=10)


def test_two_processes_share_one_budget(two_servers: list[str], api: Api) -> None:
    limit, attempts = 25, 120
    cred = api.key(per_minute=limit, per_day=10_000)
    fresh_minute()

    async def fire() -> list[int]:
        gate = asyncio.Semaphore(40)
        async with httpx.AsyncClient(timeout=30) as http:

            async def one(i: int) -> int:
                async with gate:
                    base = two_servers[i % 2]
                    if i % 3:
                        response = await http.get(f"{base}{REST}/viewer", headers=cred.headers())
                    else:
                        response = await http.post(
                            f"{base}{REST}/graphql", json={"query": VIEWER}, headers=cred.headers()
                        )
                    return response.status_code

            return list(await asyncio.gather(*(one(i) for i in range(attempts))))

    statuses = asyncio.run(fire())
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) == limit
    assert statuses.count(429) == attempts - limit


# --- failed authentication: limited per client address, never a tenant's budget ----------


AUTH_FAILURES = 3


@pytest.fixture
def guarded(limited_settings: Settings, engine: Engine) -> Iterator[Api]:
    """An app allowing ``AUTH_FAILURES`` failures a minute, reached from an address of its own."""
    fresh_minute()
    strict = limited_settings.model_copy(update={"auth_failures_per_minute": AUTH_FAILURES})
    address = f"203.0.113.{secrets.randbelow(250) + 1}-{secrets.token_hex(4)}"
    with TestClient(
        create_app(strict), raise_server_exceptions=False, client=(address, 50000)
    ) as client:
        yield Api(client=client, engine=engine, settings=strict)


def test_failed_authentication_is_limited_per_address(guarded: Api) -> None:
    cred = guarded.key(per_minute=100, per_day=1000)
    other_tenant = guarded.key(per_minute=100, per_day=1000)
    forged = Credential(cred.organization_id, cred.key[:-4] + "AAAA", cred.key_id, "live")
    # No credential at all, or a valid key without its organization, is not a guess: free.
    for _ in range(AUTH_FAILURES + 1):
        assert guarded.rest("GET", "/viewer").status_code == 401
        assert guarded.rest("GET", "/viewer", headers={"x-api-key": cred.key}).status_code == 401
    failures = [
        viewer(guarded, forged),
        guarded.rest("GET", "/viewer", headers={"x-api-key": "ast_live_nope"}),
        guarded.rest("GET", "/viewer", headers={"authorization": "Bearer guess"}),
    ]
    assert [r.status_code for r in failures] == [401] * AUTH_FAILURES
    assert all("ratelimit" not in r.headers for r in failures)

    refused = viewer(guarded, forged)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert (body["code"], body["reason"]) == ("RATE_LIMITED", "auth_failures")
    assert (body["window"], body["limit"]) == ("minute", AUTH_FAILURES)
    assert 1 <= body["retry_after"] <= 60
    assert retry_after(refused) == body["retry_after"]
    assert "ratelimit" not in refused.headers  # the RateLimit fields describe a key's budget
    # Every further guess from that address is refused now, through GraphQL too.
    assert guarded.rest("GET", "/viewer", headers={"x-api-key": "ast_live_x"}).status_code == 429
    status, error = guarded.error(VIEWER, as_=None, headers={"authorization": "Bearer x"})
    assert status == 429
    assert (error["extensions"]["reason"], error["extensions"]["window"]) == (
        "auth_failures",
        "minute",
    )

    # A valid key from the same address is served, and its own budget was never touched.
    ok = viewer(guarded, cred)
    assert ok.status_code == 200, ok.text
    assert ratelimit(ok)[:2] == ("minute", 99)
    other = viewer(guarded, other_tenant)
    assert other.status_code == 200
    assert ratelimit(other)[:2] == ("minute", 99)


def test_organization_mismatch_spends_no_failure_budget(guarded: Api) -> None:
    cred = guarded.key(per_minute=100, per_day=1000)
    other_org = guarded.org()
    for _ in range(AUTH_FAILURES + 2):
        wrong_org = viewer(guarded, Credential(other_org, cred.key, cred.key_id, "live"))
        assert wrong_org.status_code == 403
    guess = {"x-api-key": "ast_live_guess"}
    statuses = [
        guarded.rest("GET", "/viewer", headers=guess).status_code for _ in range(AUTH_FAILURES + 1)
    ]
    assert statuses == [*[401] * AUTH_FAILURES, 429]


def test_auth_failures_are_counted_per_address(make_limiter: MakeLimiter) -> None:
    clock = Clock(1_800_000_000.0)
    failure = Unauthenticated("The API key is invalid.", reason="invalid_key")

    async def scenario() -> None:
        limiter = make_limiter(clock)
        try:
            first = [
                (await spend_auth_failure(limiter, "192.0.2.1", 2, failure))[0] for _ in range(3)
            ]
            assert first[:2] == [failure, failure]
            assert isinstance(first[2], RateLimited)
            assert first[2].extra == {
                "reason": "auth_failures",
                "window": "minute",
                "limit": 2,
                "retry_after": 60,
            }
            # Another address, and a key id, have budgets of their own.
            assert (await spend_auth_failure(limiter, "192.0.2.2", 2, failure))[0] is failure
            assert (await limiter.hit("192.0.2.1", [Window("minute", 60, 1)])).allowed
            clock.now += 60  # the next minute: the address may fail again
            assert (await spend_auth_failure(limiter, "192.0.2.1", 2, failure))[0] is failure
        finally:
            await limiter.aclose()

    asyncio.run(scenario())


# --- the client address: X-Forwarded-For only from our own proxies ------------------------


def _guesses(base_url: str, forwarded_for: list[str | None]) -> list[int]:
    """One failed authentication per entry, over TCP from loopback, with that header."""
    statuses = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for hop in forwarded_for:
            headers = {"x-api-key": "ast_live_guess"}
            if hop is not None:
                headers["x-forwarded-for"] = hop
            statuses.append(http.get(f"{REST}/viewer", headers=headers).status_code)
    return statuses


def _own_budgets(settings: Settings, **changes: object) -> Settings:
    """``settings`` with ``changes``, counting in a fresh minute under a Redis prefix of its
    own (loopback's budget is not shared with other tests)."""
    fresh_minute()
    prefix = f"{settings.redis_prefix}xff-{secrets.token_hex(4)}:"
    return settings.model_copy(
        update={"auth_failures_per_minute": AUTH_FAILURES, "redis_prefix": prefix, **changes}
    )


def test_rotating_x_forwarded_for_from_loopback_is_still_limited(settings: Settings) -> None:
    """Uvicorn would trust the header from 127.0.0.1; we do not, unless told to."""
    strict = _own_budgets(settings)
    rotating: list[str | None] = [f"198.51.100.{i}" for i in range(1, 8)]
    with serving(create_app(strict)) as url:
        assert _guesses(url, rotating) == [401] * AUTH_FAILURES + [429] * 4


def test_a_trusted_proxys_header_names_the_client(settings: Settings) -> None:
    trusting = _own_budgets(settings, trusted_proxies="127.0.0.0/8, ::1")
    with serving(create_app(trusting)) as url:
        # Each client its own budget: rotating addresses behind the proxy are not one caller.
        assert _guesses(url, [f"198.51.100.{i}" for i in range(1, 8)]) == [401] * 7
        # One client through a chain: the nearest untrusted hop, whatever it claims before.
        chain: list[str | None] = [f"10.9.9.{i}, 203.0.113.7, 127.0.0.1" for i in range(5)]
        assert _guesses(url, chain) == [401] * AUTH_FAILURES + [429] * 2
        # No header, or garbage in it: the proxy itself is the caller.
        assert _guesses(url, [None, "not-an-ip", None, None]) == [401] * AUTH_FAILURES + [429]


def test_a_bad_trusted_proxy_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.internal")
