"""Logic per resource: org-scoped reads; writes that audit and emit in one transaction."""
