"""The typed request context shared by GraphQL and the REST facade: one way in."""

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from fastapi import Request
from graphql import GraphQLError, parse
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext

from asteri.authz.authenticate import authenticate
from asteri.authz.limits import REQUEST_COST, is_guess, spend, spend_auth_failure
from asteri.authz.principal import ActorType, Principal
from asteri.authz.tenancy import tenant
from asteri.http.client import client_address as http_client_address
from asteri.kit.db import Database, RequestStore
from asteri.kit.errors import ApiError, RateLimited, Unauthenticated
from asteri.kit.ratelimit import Decision
from asteri.kit.settings import Settings
from asteri.resolvers import crud
from asteri.resolvers.crud import Resource
from asteri.resolvers.unit import UnitOfWork

__all__ = [
    "REFUSED",
    "Authenticate",
    "RequestContext",
    "client_address",
    "get_context",
    "graphql_context",
    "open_context",
]


class RequestContext(BaseContext):
    """Authentication runs before any resolver; its outcome (principal or error) lives here.

    A failed authentication is kept, not raised, so introspection and the GraphiQL page work
    without a key; every field that needs a principal re-raises it as a 401/403.
    """

    def __init__(
        self,
        *,
        store: RequestStore,
        auth: Principal | ApiError | None,
        request_id: str | None,
        settings: Settings,
        http: Request | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.auth = auth  # None until ``authenticate`` ran (GraphQL decides when)
        self.request_id = request_id
        self.settings = settings
        self._http = http
        self._used_key: Principal | None = None  # the key whose last_used_at may need a write
        # Set for an Idempotency-Key request (REST facade or GraphQL endpoint): the mutation
        # only flushes, and the idempotency layer commits once, with the stored response.
        self.defer_commit = False
        self._loaders: dict[Hashable, DataLoader[Any, Any]] = {}
        # The key's rate-limit windows after this request was counted (``viewer`` shows them).
        self.rate_limit: Decision | None = None

    @property
    def auth(self) -> Principal | ApiError | None:
        return self._auth

    @auth.setter
    def auth(self, value: Principal | ApiError | None) -> None:
        """A principal also decides the tenant its write transaction runs as (row security)."""
        self._auth = value
        self.store.tenant = tenant(value) if isinstance(value, Principal) else None

    @property
    def http(self) -> Request | None:
        """The HTTP request this context answers (None outside one)."""
        return self._http

    @property
    def principal(self) -> Principal:
        if self.auth is None:
            raise RuntimeError("the request was not authenticated before a resolver ran")
        if isinstance(self.auth, ApiError):
            raise self.auth
        return self.auth

    def loader(
        self, key: Hashable, batch: Callable[[list[Any]], Awaitable[list[Any]]]
    ) -> DataLoader[Any, Any]:
        """This request's DataLoader for ``key`` (one batched query per field, not per row)."""
        found = self._loaders.get(key)
        if found is None:
            found = self._loaders[key] = DataLoader(load_fn=batch)
        return found

    def by_id(self, resource: Resource) -> DataLoader[str, Any]:
        """This request's loader of ``resource``'s rows by public id (``None`` for one the
        caller cannot see): related objects in one statement per field, not one per row."""
        uow = self.uow
        return self.loader(("by_id", resource.name), lambda ids: crud.read_many(uow, resource, ids))

    async def children(
        self,
        field: str,
        parent_id: str,
        first: int,
        batch: Callable[..., Awaitable[list[list[Any]]]],
    ) -> list[Any]:
        """The first ``first`` rows of one parent's list field (``Customer.activity``), batched
        with its siblings': ``batch(uow, parent_ids, first=first)`` answers for every parent in
        one statement."""
        uow = self.uow
        loader = self.loader((field, first), lambda ids: batch(uow, ids, first=first))
        rows: list[Any] = await loader.load(parent_id)
        return rows

    @property
    def from_cached_key(self) -> bool:
        """The principal came from the key cache: its reads re-check the key (see KeyCache)."""
        return isinstance(self.auth, Principal) and self.auth.from_cache

    async def authenticate(self, *, cached: bool = False, charge: bool = True) -> None:
        """Authenticate once and spend one unit of the key's rate limit. Over the limit,
        ``auth`` is the 429 to raise.

        ``cached``: a key may come from the key cache (compiled reads only: their statements
        re-check it). ``charge=False``: the request was already counted (``reauthenticate``):
        the fresh terms are checked against that count without counting it again, so narrowed
        limits apply to this very request.

        A 401 for a presented credential (a key or bearer token that does not work: a guess)
        spends one unit of the client address's failure budget instead (never the tenant's);
        once that is spent, ``auth`` is a 429 with ``reason: "auth_failures"``. A valid key's
        ``last_used_at`` is then recorded by ``finish``, throttled to once a minute
        (``authz/usage.py``)."""
        request = self._http
        assert request is not None
        state = request.app.state
        settings = self.settings
        auth: Principal | ApiError
        try:
            auth = await authenticate(
                self.store.database.rows,
                request.headers,
                pepper=settings.key_pepper.get_secret_value(),
                session_secret=settings.session_secret.get_secret_value(),
                cache=state.key_cache,
                cached=cached,
            )
        except Unauthenticated as error:
            if not is_guess(error):  # no credential at all (e.g. GraphiQL loading its schema)
                auth = error
            else:
                auth, decision = await spend_auth_failure(
                    state.rate_limiter,
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
                self._used_key = auth
            cost = REQUEST_COST if charge else 0
            auth, decision = await spend(state.rate_limiter, auth, cost)
            self.rate_limit = decision
            # Added to the response, whatever it is, by the request-id middleware.
            request.state.response_headers = decision.headers()
        self.auth = auth

    async def reauthenticate(self) -> None:
        """Decide again against the database (not the cache), without charging again: what a
        compiled read does when a cached key is refused or finds nothing."""
        await self.authenticate(cached=False, charge=False)

    async def finish(self) -> None:
        """Close the request's session, then (outside its transaction) note the key's use."""
        await self.store.close()
        if self._used_key is not None and self._http is not None:
            await self._http.app.state.key_usage.record(self.store.database, self._used_key)

    @property
    def session(self) -> AsyncSession:
        """The write transaction, opened on first use."""
        return self.store.session

    @property
    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.store, self.principal, self.request_id)


def client_address(request: Request) -> str:
    """The caller's address (``http/client.py``: the TCP peer, or past our own proxies)."""
    settings: Settings = request.app.state.settings
    return http_client_address(request, settings.trusted_networks)


def _unauthenticated(request: Request) -> RequestContext:
    database: Database = request.app.state.database
    return RequestContext(
        store=RequestStore(database),
        auth=None,
        request_id=getattr(request.state, "request_id", None),
        settings=request.app.state.settings,
        http=request,
    )


async def open_context(
    request: Request, *, cached: bool = False, charge: bool = True
) -> RequestContext:
    """An authenticated context; the caller runs the operation, then awaits ``finish()``."""
    context = _unauthenticated(request)
    await context.authenticate(cached=cached, charge=charge)
    return context


async def get_context(request: Request) -> AsyncIterator[RequestContext]:
    """FastAPI dependency form of ``open_context`` (the REST facade's writes)."""
    context = await open_context(request)
    try:
        yield context
    finally:
        await context.finish()


async def graphql_context(request: Request) -> AsyncIterator[RequestContext]:
    """GraphQL's context: authenticated by the ``Authenticate`` extension once the operation
    is known, so a compiled persisted read may use the key cache."""
    context = _unauthenticated(request)
    try:
        yield context
    finally:
        await context.finish()


class Authenticate(SchemaExtension):
    """First of the schema's extensions: authenticates the request before anything else looks
    at its principal. Only a persisted operation answered by a compiled read may be served
    from the key cache (its statements re-check the key, and it re-authenticates when the
    cached key is refused or finds nothing); every other operation — any mutation, any
    free-text document — is authenticated against the database."""

    async def on_operation(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if isinstance(context, RequestContext):
            if context.auth is None:  # else the endpoint did (an Idempotency-Key's claim)
                schema = execution.schema
                document = schema.persisted.document_for(execution.query)  # type: ignore[attr-defined]
                compiled = document is not None and id(document) in schema.compiled_reads  # type: ignore[attr-defined]
                await context.authenticate(cached=compiled)
            if isinstance(context.auth, RateLimited):
                # Over the limit: answered before the document is parsed or validated.
                execution.graphql_document = REFUSED
                execution.pre_execution_errors = [
                    GraphQLError(context.auth.detail, original_error=context.auth)
                ]
        yield


# Stands in for the document of a refused request, so strawberry neither parses nor validates.
REFUSED = parse("query Refused { __typename }")
