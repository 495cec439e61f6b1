"""Asteri Public API: one org-scoped GraphQL schema behind GraphQL and a generated REST facade."""
