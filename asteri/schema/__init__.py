"""The one strawberry schema: every org-scoped field, its scope, its limits."""

from asteri.schema.build import build_schema, print_sdl

__all__ = ["build_schema", "print_sdl"]
