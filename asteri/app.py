"""The ASGI app: request id → authenticate → the REST facade or GraphQL → one schema."""

import dataclasses
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from cross_web import HTTPException as TransportError
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLRequestData
from strawberry.types.unset import UNSET

from asteri.authz.authenticate import KeyCache
from asteri.authz.isolation import request_database
from asteri.authz.principal import Principal
from asteri.authz.usage import KeyUsage
from asteri.http.body_limit import BodyLimitMiddleware
from asteri.http.cors import CorsMiddleware
from asteri.http.graphiql import GraphiQL
from asteri.http.pages import HtmlPolicyMiddleware, reference_page, reference_policy
from asteri.http.problems import install_problem_handlers
from asteri.http.request_id import RequestIdMiddleware
from asteri.http.semantics import HttpSemanticsMiddleware, PathMethods
from asteri.kit.errors import BadRequest
from asteri.kit.ratelimit import build_rate_limiter
from asteri.kit.settings import Settings, get_settings
from asteri.portal.index import build_index
from asteri.portal.pages import Portal
from asteri.portal.routes import SEARCH_PATH, portal_router, search_router
from asteri.portal.search import search_index
from asteri.resolvers.crud import Stability
from asteri.rest_facade import build_router, compiled_read_routes, install_openapi
from asteri.rest_facade.idempotency import HEADER, idempotency_key, idempotent
from asteri.schema import build_schema
from asteri.schema.context import RequestContext, graphql_context
from asteri.schema.idempotency import mutation_field, not_applicable
from asteri.schema.operations import API_PREFIX, ROUTES
from asteri.schema.stability import mark
from asteri.workers.runner import BackgroundRunner

__all__ = ["API_PREFIX", "create_app", "lifespan", "serving_app"]

GRAPHIQL_ASSETS = f"{API_PREFIX}/graphql/assets"  # GraphiQL's files, served by us
MAX_BODY_BYTES = 1_000_000  # a larger body is a 413 problem
GRAPHQL_ROUTE = "POST /graphql"  # an Idempotency-Key's scope: never one of REST's routes
# What GraphQL answers a mutation it refused before running it — a bad document, credential
# or scope, a spent budget — once the key is claimed: REST refuses those before claiming, so
# they store nothing there either; the claim is released and a retry runs.
REFUSED_BEFORE_RUNNING = frozenset({400, 401, 403, 429})


class GraphQLEndpoint(GraphQLRouter[Any, None]):
    """Strawberry's router, plus persisted operations by hash, ``Idempotency-Key`` on a
    mutation, problem+json transport errors, and our GraphiQL page (``http/graphiql.py``:
    local assets) for a browser's GET instead of strawberry's, which loads from CDNs.

    A persisted operation may be sent as its sha256 alone (the Apollo convention):
    ``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}``.

    ``one_time_secrets``: the mutations (root fields) whose answer carries a secret shown
    once, from the same route declarations as REST's (``Route.one_time_secret``).
    """

    def __init__(
        self,
        schema: Any,
        *,
        ide: GraphiQL,
        one_time_secrets: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql", **kwargs)
        self.ide = ide
        self.one_time_secrets = one_time_secrets

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self.ide.page)

    def parse_json(self, data: str | bytes) -> Any:
        """A body (and a GET's ``variables``/``extensions``) is a JSON object, or a batch's
        list: ``5``, ``"x"`` or ``null`` is a 400, not a 500 further on."""
        value = super().parse_json(data)
        if not isinstance(value, dict | list):
            raise TransportError(400, 'The request must be a JSON object, e.g. {"query": "…"}.')
        return value

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData) and data.query is None:
            digest = _requested_hash(data.extensions)
            if digest is not None:
                op = self.schema.persisted.by_sha256.get(digest)  # type: ignore[attr-defined]
                if op is None:
                    raise BadRequest(
                        f"No persisted operation has sha256 `{digest}`.",
                        reason="persisted_operation_not_found",
                    )
                return dataclasses.replace(data, query=op.source, operation_name=op.name)
        return data

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if isinstance(request, Request) and isinstance(context, RequestContext):
            request.state.sub_response = context.response  # see ``get_sub_response``
        try:
            if isinstance(request, Request) and HEADER in request.headers:
                return await self._idempotent(request, context, root_value)
            return await super().run(request, context, root_value)
        except TransportError as exc:
            raise BadRequest(exc.reason) from None

    async def _idempotent(
        self, request: Request, context: RequestContext, root_value: Any
    ) -> Response:
        """A request carrying ``Idempotency-Key``: one mutation runs under the REST facade's
        idempotency (``idempotent``), scoped to ``GRAPHQL_ROUTE``; anything else is a 400."""
        key = idempotency_key(request)
        assert key is not None
        if request.method != "POST":
            raise not_applicable(
                "`Idempotency-Key` applies to a POST that runs one mutation; a GET only reads."
            )
        # GraphQL's own JSON reading (a 400 when it is not JSON): a stricter parser would
        # refuse bodies that GraphQL then runs (``NaN``), and the key would not hold for them.
        if isinstance(self.parse_json(await request.body()), list):
            raise not_applicable(
                "`Idempotency-Key` applies to one operation, not a batch: send each mutation "
                "as its own request, with its own key."
            )
        data = await self.parse_http_body(self.request_adapter_class(request))
        assert isinstance(data, GraphQLRequestData)
        if data.protocol != "http":
            raise not_applicable("`Idempotency-Key` applies to a plain JSON answer, not a stream.")
        field = mutation_field(
            self.schema.persisted,  # type: ignore[attr-defined]
            data.query,
            data.operation_name,
            context.settings,
        )
        if field is None:
            return await self._answer(request, context, root_value)
        if field in self.schema.preview_fields:  # type: ignore[attr-defined]
            mark(request.state, Stability.PREVIEW)  # a replay runs nothing that would
        # The claim is scoped to the principal, so authenticate now (the ``Authenticate``
        # extension then finds it done); a failure is answered by GraphQL, nothing claimed.
        await context.authenticate()
        if not isinstance(context.auth, Principal):
            return await self._answer(request, context, root_value)
        return await idempotent(
            request,
            context,
            key=key,
            route=GRAPHQL_ROUTE,
            run=lambda: self._answer(request, context, root_value),
            one_time_secret=field in self.one_time_secrets,
            released=REFUSED_BEFORE_RUNNING,
        )

    async def _answer(self, request: Request, context: RequestContext, root_value: Any) -> Response:
        answer = await super().run(request, context, root_value)
        assert isinstance(answer, Response)
        return answer

    async def get_sub_response(self, request: Request) -> Response:
        """This request's own sub-response, whose status ``ErrorShaping`` sets. The router
        keeps only the latest request's (``temporal_response``), which another request may
        replace while an Idempotency-Key request awaits its claim."""
        own: Response | None = getattr(request.state, "sub_response", None)
        return own if own is not None else await super().get_sub_response(request)


def _requested_hash(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if isinstance(persisted, dict) and isinstance(persisted.get("sha256Hash"), str):
        return str(persisted["sha256Hash"]).lower()
    return None


def lifespan(
    settings: Settings, *, background: bool = False
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What a request needs from the process: the database, the settings, the rate limiter,
    the key-usage throttle and the key cache — built at start, closed at shutdown. With
    ``background``, the background runner too (``workers/runner.py``)."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        runner = BackgroundRunner(settings) if background else None
        app.state.database = request_database(settings)
        app.state.settings = settings
        app.state.rate_limiter = build_rate_limiter(
            settings.redis_url, prefix=settings.redis_prefix
        )
        app.state.key_usage = KeyUsage()
        app.state.key_cache = KeyCache()
        # The schema, models and compiled operations live as long as the process: move them
        # out of the cyclic collector's reach, so a full collection under load walks only
        # what requests allocate (it otherwise walks the whole heap, many times a second).
        gc.collect()
        gc.freeze()
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.close()
            gc.unfreeze()  # collectable again once the app is gone (tests start many)
            await app.state.rate_limiter.aclose()
            await app.state.database.dispose()

    return run


def serving_app() -> FastAPI:
    """What ``asteri serve`` runs: the app, with the background runner in the process where
    the settings say so (``runs_worker_in_process``: the embedded default)."""
    settings = get_settings()
    return create_app(settings, background=settings.runs_worker_in_process)


def create_app(settings: Settings | None = None, *, background: bool = False) -> FastAPI:
    settings = settings or get_settings()

    app = FastAPI(
        title="Asteri Public API",
        version="1.0.0",
        lifespan=lifespan(settings, background=background),
        docs_url=None,  # our own page (http/pages.py): pinned assets with SRI
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
        redirect_slashes=False,  # `/customers/` is a 404, never a redirect (to http://)
    )
    install_problem_handlers(app, public_url=settings.public_url)
    schema = build_schema(settings.max_query_depth, settings.max_aliases)
    rest, bindings = build_router(schema, ROUTES, compiled_reads=settings.compiled_reads)
    app.include_router(rest, prefix=API_PREFIX)
    app.router.routes[:0] = compiled_read_routes(bindings, API_PREFIX)
    install_openapi(app, bindings)

    page = reference_page(f"{API_PREFIX}/openapi.json", "Asteri Public API")
    policy = reference_policy(page)

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    async def reference() -> HTMLResponse:
        return HTMLResponse(page, headers=policy)

    # The developer portal, rendered now from the reference index and this OpenAPI document;
    # every problem's `type` is one of its pages.
    app.include_router(portal_router(Portal(build_index(), app.openapi(), settings.public_url)))
    # Developer search (public, limited per address): its index is built now, not on the
    # first search.
    search_index()
    app.include_router(search_router(), prefix=API_PREFIX)

    ide = GraphiQL(
        f"{API_PREFIX}/graphql",
        GRAPHIQL_ASSETS,
        examples=list(schema.persisted.files.values()),
    )
    app.add_route(
        f"{GRAPHIQL_ASSETS}/{{name}}", ide.asset, methods=["GET"], include_in_schema=False
    )
    graphql = GraphQLEndpoint(
        schema,
        ide=ide,
        context_getter=graphql_context,
        one_time_secrets=frozenset(b.op.root_field for b in bindings if b.route.one_time_secret),
    )
    app.include_router(graphql, prefix=f"{API_PREFIX}/graphql")
    app.state.methods = PathMethods(
        [(API_PREFIX + b.route.path, b.route.method) for b in bindings]
        + [(f"{API_PREFIX}/graphql", method) for method in ("GET", "POST")]
        + [(API_PREFIX + SEARCH_PATH, "GET")]
        + [(f"{GRAPHIQL_ASSETS}/{{name}}", "GET")]
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(HtmlPolicyMiddleware)  # inside HEAD handling: it sees the page
    app.add_middleware(
        HttpSemanticsMiddleware, rest_prefix=API_PREFIX, graphql_path=f"{API_PREFIX}/graphql"
    )
    if settings.allowed_origins:  # a preflight is answered before anything below
        app.add_middleware(CorsMiddleware, origins=settings.allowed_origins)
    app.add_middleware(RequestIdMiddleware)
    return app
