"""Baseline for the benchmark: the same schema and resolvers through strawberry's default path.

A plain ``strawberry.Schema`` over the project's own query and mutation types (``QUERIES``,
``MUTATIONS``), with the same config (camelCase, the ``SafeInt`` scalar) and NO schema
extensions: no persisted documents, no validation cache, no error shaping, no depth/alias
rules. Every request is parsed and validated. It is mounted with strawberry's own
``GraphQLRouter`` and the project's ``get_context`` dependency (so authentication, the session
and the scope checks on the fields are the real ones), and a lifespan that sets
``app.state.database`` and ``app.state.settings`` the way ``asteri.app.create_app`` does.

What this measures, next to the API's ``/graphql``: what the persisted-operation path (no parse,
no validate) buys over strawberry out of the box for the same query text and the same resolvers.

Served by ``benchmarks/run.py`` as
``uvicorn strawberry_default_app:create_app --factory --app-dir benchmarks`` with
``ASTERI_DATABASE_URL`` set.
"""

from typing import Any

import strawberry
from fastapi import FastAPI
from strawberry.fastapi import GraphQLRouter
from strawberry.schema.config import StrawberryConfig

from asteri.app import lifespan
from asteri.kit.settings import Settings, get_settings
from asteri.schema.build import root_types
from asteri.schema.context import get_context
from asteri.schema.scalars import SCALARS

GRAPHQL_PATH = "/graphql"


def default_schema() -> strawberry.Schema:
    query, mutation = root_types()
    return strawberry.Schema(
        query=query,
        mutation=mutation,
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    app = FastAPI(lifespan=lifespan(settings), docs_url=None, redoc_url=None, openapi_url=None)
    router: GraphQLRouter[Any, None] = GraphQLRouter(
        default_schema(), context_getter=get_context, graphql_ide=None
    )
    app.include_router(router, prefix=GRAPHQL_PATH)
    return app
