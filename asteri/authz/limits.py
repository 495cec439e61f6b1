"""The rate-limit step: right after authentication, before any work, for REST and GraphQL.

Cost rule: every request costs 1, whatever the surface: a REST call, a GraphQL document of any
size, a persisted operation by hash. (GraphQL may later be weighed by query cost; depth and
alias limits already bound the work one document can ask for.) Failed authentication never
reaches this step, so it cannot spend a tenant's budget.
"""

from asteri.authz.principal import Principal
from asteri.kit.errors import ApiError, RateLimited
from asteri.kit.ratelimit import Decision, RateLimiter, Window

__all__ = ["REQUEST_COST", "spend", "windows_for"]

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
