"""The REST facade: ``/api/public/v1`` routes generated from persisted GraphQL operations."""

from asteri.rest_facade.openapi import install_openapi
from asteri.rest_facade.routes import build_router, compiled_read_routes

__all__ = ["build_router", "compiled_read_routes", "install_openapi"]
