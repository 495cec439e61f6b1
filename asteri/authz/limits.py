"""The rate-limit step: right after authentication, before any work, for REST and GraphQL.

Cost rule: every request costs 1, whatever the surface: a REST call, a GraphQL document of any
size, a persisted operation by hash. (GraphQL may later be weighed by query cost; depth and
alias limits already bound the work one document can ask for.) Failed authentication never
reaches this step, so it cannot spend a tenant's budget.

Failed authentication is limited per client address instead (``spend_auth_failure``): every 401
spends one unit of the address's minute budget (``ASTERI_AUTH_FAILURES_PER_MINUTE``) in the same
limiter, under the ``authfail:`` namespace (key ids are ``key_…``, so the two never collide).
Once the budget is spent, a failing request from that address gets a 429 with
``reason: "auth_failures"`` instead of the 401: it no longer learns why it failed (invalid,
revoked, expired…). A valid credential from the same address is still served, so one noisy
client behind a shared NAT or proxy cannot lock a tenant out. The check runs only after
authentication has failed: requests without a well-formed key (missing, malformed, bad
checksum, bad bearer) fail without a database read anyway, and guessing a well-formed key costs
one indexed read per attempt against 256 bits of randomness. A 403 (valid key, wrong
organization) is not a failed authentication and spends nothing.

Developer search (``GET /search``, public: no credential) spends the address's own budget
too (``spend_search``, ``ASTERI_SEARCH_REQUESTS_PER_MINUTE``, the ``search:`` namespace).

The address is the TCP peer (``request.client.host``); ``X-Forwarded-For`` is not trusted.
Behind a reverse proxy every client shares the proxy's address and so one budget: raise the
setting there, or terminate the limit at the proxy.
"""

from asteri.authz.principal import Principal
from asteri.kit.errors import ApiError, RateLimited
from asteri.kit.ratelimit import Decision, RateLimiter, Window

__all__ = [
    "AUTH_FAILURE_NAMESPACE",
    "REQUEST_COST",
    "is_guess",
    "spend",
    "spend_anonymous_document",
    "spend_auth_failure",
    "spend_search",
    "windows_for",
]

AUTH_FAILURE_NAMESPACE = "authfail:"
ANONYMOUS_NAMESPACE = "anonymous:"
SEARCH_NAMESPACE = "search:"

REQUEST_COST = 1


def windows_for(principal: Principal) -> tuple[Window, ...]:
    return (
        Window("minute", 60, principal.per_minute),
        Window("day", 86_400, principal.per_day),
    )


async def spend(
    limiter: RateLimiter, principal: Principal, cost: int = REQUEST_COST
) -> tuple[Principal | ApiError, Decision]:
    """The principal if the key's budget allows the request, else the 429 to raise."""
    decision = await limiter.hit(principal.actor_id, windows_for(principal), cost)
    refused = decision.refused
    if decision.allowed or refused is None:
        return principal, decision
    return (
        RateLimited(
            f"Rate limit exceeded: this key may make {refused.limit} requests per "
            f"{refused.name}. Retry in {refused.reset} s.",
            window=refused.name,
            limit=refused.limit,
            retry_after=refused.reset,
        ),
        decision,
    )


# 401s that come from presenting a credential that does not work — what brute force looks like.
# No credential at all, or a valid key without `x-organization-id`, is not a guess.
_GUESSES = frozenset(
    {
        "malformed_key",
        "invalid_key",
        "revoked_key",
        "expired_key",
        "malformed_bearer",
        "invalid_bearer",
        "expired_bearer",
        "revoked_bearer",
    }
)


def is_guess(failure: ApiError) -> bool:
    return failure.extra.get("reason") in _GUESSES


async def _spend_per_address(
    limiter: RateLimiter, namespace: str, address: str, per_minute: int, what: str, reason: str
) -> tuple[RateLimited | None, Decision]:
    """One unit of an address's per-minute budget (``namespace``): ``None`` while it lasts,
    else the 429 naming ``what`` was counted."""
    decision = await limiter.hit(f"{namespace}{address}", (Window("minute", 60, per_minute),))
    refused = decision.refused
    if decision.allowed or refused is None:
        return None, decision
    return (
        RateLimited(
            f"Too many {what} from this address: at most {refused.limit} per {refused.name}. "
            f"Retry in {refused.reset} s.",
            reason=reason,
            window=refused.name,
            limit=refused.limit,
            retry_after=refused.reset,
        ),
        decision,
    )


async def spend_auth_failure(
    limiter: RateLimiter, address: str, per_minute: int, failure: ApiError
) -> tuple[ApiError, Decision]:
    """``failure`` (the 401) while the address has failures to spare, else the 429 to raise."""
    refused, decision = await _spend_per_address(
        limiter,
        AUTH_FAILURE_NAMESPACE,
        address,
        per_minute,
        "failed authentication attempts",
        "auth_failures",
    )
    return refused or failure, decision


async def spend_anonymous_document(
    limiter: RateLimiter, address: str, per_minute: int
) -> tuple[RateLimited | None, Decision]:
    """One GraphQL document sent without any credential (other than introspection): ``None``
    while the address has some to spare, else the 429 to raise."""
    return await _spend_per_address(
        limiter,
        ANONYMOUS_NAMESPACE,
        address,
        per_minute,
        "documents without a credential",
        "anonymous_documents",
    )


async def spend_search(
    limiter: RateLimiter, address: str, per_minute: int
) -> tuple[RateLimited | None, Decision]:
    """One developer search (``GET /search``, public: no credential) from ``address``:
    ``None`` while the address has some to spare, else the 429 to raise."""
    return await _spend_per_address(
        limiter, SEARCH_NAMESPACE, address, per_minute, "search requests", "search_requests"
    )
