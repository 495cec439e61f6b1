"""``GET /search``: developer search over the reference index, public (no key); and the
portal's pages (``portal_router``).

It holds nothing but what the public documentation says, the same for every caller, so it
needs no credential; it is limited per client address instead
(``ASTERI_SEARCH_REQUESTS_PER_MINUTE``, in the same limiter as the other per-address budgets:
``authz/limits.spend_search``). The budget is spent before the query is even validated, so
a refused caller learns nothing and costs next to nothing. Over it: a ``429`` problem with
``reason: search_requests`` and ``Retry-After``.

A query over ``MAX_QUERY_CHARS`` is a ``422`` problem pointing at ``/q``; an empty or blank
one is an empty list. Any other input is answered (``search.py`` never hands FTS5 syntax
through).
"""

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from asteri.authz.limits import spend_search
from asteri.kit.errors import NotFound
from asteri.kit.settings import Settings
from asteri.portal.index import BASE_URL
from asteri.portal.pages import Page, Portal
from asteri.portal.search import MAX_QUERY_CHARS, search_index
from asteri.schema.context import client_address

__all__ = ["MAX_LIMIT", "SEARCH_PATH", "portal_router", "search_router"]

SEARCH_PATH = "/search"
MAX_LIMIT = 50
# The pages change only with a deploy: caches may keep them a little, and must ask again after.
_CACHE = {"cache-control": "public, max-age=300"}


async def per_address_budget(request: Request) -> None:
    """One unit of the caller's address's search budget, or the 429 (with ``Retry-After``)."""
    settings: Settings = request.app.state.settings
    refused, decision = await spend_search(
        request.app.state.rate_limiter,
        client_address(request),
        settings.search_requests_per_minute,
    )
    if refused is not None:
        # Only Retry-After: the RateLimit fields describe a key's budget (the request-id
        # middleware adds these to whatever the answer is).
        request.state.response_headers = [h for h in decision.headers() if h[0] == b"retry-after"]
        raise refused


def search_router() -> APIRouter:
    router = APIRouter()

    @router.get(SEARCH_PATH, include_in_schema=False, dependencies=[Depends(per_address_budget)])
    async def search(
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)] = "",
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    ) -> Response:
        hits = search_index().search(q, limit) if q.strip() else []
        body = {"object": "list", "data": [h.as_dict() for h in hits], "query": q}
        return Response(orjson.dumps(body), media_type="application/json")

    return router


def portal_router(portal: Portal) -> APIRouter:
    """The portal's pages (``pages.Portal``, rendered at start-up), from memory: ``/`` leads
    to ``/developers``; ``/developers/search`` renders the search box's results for browsers
    without JavaScript (limited per address like the API's search); an unknown page is a 404
    problem."""
    router = APIRouter(include_in_schema=False)

    def send(page: Page) -> Response:
        return Response(page.body, media_type=page.media_type, headers=_CACHE)

    @router.get("/")
    async def home() -> Response:
        return RedirectResponse(BASE_URL, status_code=307)

    @router.get(f"{BASE_URL}/search", dependencies=[Depends(per_address_budget)])
    async def search_page(q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)] = "") -> Response:
        hits = search_index().search(q, 20) if q.strip() else []
        return send(portal.search_page(q, hits))

    @router.get("/llms.txt")
    async def llms() -> Response:
        return send(portal.pages["/llms.txt"])

    @router.get(BASE_URL)
    @router.get(BASE_URL + "/{path:path}")
    async def page(request: Request) -> Response:
        found = portal.pages.get(request.url.path.rstrip("/") or "/")
        if found is None:
            raise NotFound(f"No developer page at `{request.url.path}`; start at {BASE_URL}.")
        return send(found)

    return router
