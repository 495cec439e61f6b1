"""The typed request context shared by GraphQL and the REST facade: one way in."""

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.fastapi import BaseContext

from asteri.authz.authenticate import authenticate
from asteri.authz.limits import is_guess, spend, spend_auth_failure
from asteri.authz.principal import ActorType, Principal
from asteri.authz.usage import KeyUsage
from asteri.kit.db import Database, RequestStore
from asteri.kit.errors import ApiError, Unauthenticated
from asteri.kit.settings import Settings
from asteri.resolvers.unit import UnitOfWork

__all__ = ["RequestContext", "client_address", "get_context", "open_context"]


class RequestContext(BaseContext):
    """Authentication ran before any resolver; its outcome (principal or error) lives here.

    A failed authentication is kept, not raised, so introspection and the GraphiQL page work
    without a key; every field that needs a principal re-raises it as a 401/403.
    """

    def __init__(
        self,
        *,
        store: RequestStore,
        auth: Principal | ApiError,
        request_id: str | None,
        settings: Settings,
        used_key: str | None = None,
        key_usage: KeyUsage | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.auth = auth
        self._used_key = used_key
        self._key_usage = key_usage
        self.request_id = request_id
        self.settings = settings
        # Set by the REST facade for an Idempotency-Key request: the mutation only flushes and
        # the facade commits once, with the stored response in the same transaction.
        self.defer_commit = False
        # Set by a REST read whose answer is an empty page (see Binding.serve).
        self.found_nothing = False

    @property
    def principal(self) -> Principal:
        if isinstance(self.auth, ApiError):
            raise self.auth
        return self.auth

    async def finish(self) -> None:
        """Close the request's session, then (outside its transaction) note the key's use."""
        await self.store.close()
        if self._used_key is not None and self._key_usage is not None:
            await self._key_usage.record(self.store.database, self._used_key)

    @property
    def session(self) -> AsyncSession:
        """The write transaction, opened on first use."""
        return self.store.session

    @property
    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.store, self.principal, self.request_id)


def client_address(request: Request) -> str:
    """The TCP peer. ``X-Forwarded-For`` is not trusted: anyone can send it."""
    return request.client.host if request.client is not None else "unknown"


async def open_context(
    request: Request, *, cached: bool = False, charge: bool = True
) -> RequestContext:
    """Authenticate once and spend one unit of the key's rate limit; the caller runs the
    operation and then awaits ``context.finish()``. Over the limit, ``auth`` is the 429 to raise.

    ``cached``: a key may come from the key cache (REST reads only: their statements re-check
    it, see ``KeyCache``). ``charge=False``: the request was already charged (the facade's
    fresh re-authentication of a read a cached key could not make).

    A 401 for a presented credential (a key or bearer token that does not work: a guess) spends
    one unit of the client address's failure budget instead (never the tenant's);
    once that is spent, ``auth`` is a 429 with ``reason: "auth_failures"``. A valid key's
    ``last_used_at`` is then recorded by ``finish``, throttled to once a minute
    (``authz/usage.py``)."""
    database: Database = request.app.state.database
    settings: Settings = request.app.state.settings
    used: str | None = None  # the key whose last_used_at may need a write
    auth: Principal | ApiError
    try:
        auth = await authenticate(
            database.rows,
            request.headers,
            pepper=settings.key_pepper.get_secret_value(),
            session_secret=settings.session_secret.get_secret_value(),
            cache=request.app.state.key_cache,
            cached=cached,
        )
    except Unauthenticated as error:
        if not is_guess(error):  # no credential at all (e.g. GraphiQL loading its schema)
            auth = error
        else:
            auth, decision = await spend_auth_failure(
                request.app.state.rate_limiter,
                client_address(request),
                settings.auth_failures_per_minute,
                error,
            )
            if not decision.allowed:
                # Only Retry-After: RateLimit fields describe a key's budget; there is none.
                request.state.response_headers = [
                    h for h in decision.headers() if h[0] == b"retry-after"
                ]
    except ApiError as error:  # 403: a valid credential for another organization
        auth = error
    else:
        if auth.actor_type is ActorType.API_KEY:
            used = auth.actor_id
        if charge:
            auth, decision = await spend(request.app.state.rate_limiter, auth)
            # Added to the response, whatever it turns out to be, by the request-id middleware.
            request.state.response_headers = decision.headers()
    return RequestContext(
        store=RequestStore(database),
        auth=auth,
        request_id=getattr(request.state, "request_id", None),
        settings=settings,
        used_key=used,
        key_usage=request.app.state.key_usage,
    )


async def get_context(request: Request) -> AsyncIterator[RequestContext]:
    """FastAPI dependency form of ``open_context`` (GraphQL and REST writes)."""
    context = await open_context(request)
    try:
        yield context
    finally:
        await context.finish()
