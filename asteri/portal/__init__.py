"""The developer portal's data: the reference index and developer search.

``index.build_index()`` gathers, once per process, everything a developer page shows — the
guides (``guides/*.md``), every REST operation and the persisted GraphQL operation it runs,
every public GraphQL type and field, every scope, every problem code and every event type —
from the same declarations that serve the API and generate the OpenAPI document (the route
table, the schema, ``Scope``, ``ErrorCode``, the event catalogue). Nothing the code already
knows is listed here by hand. ``search.SearchIndex`` ranks the index's flat ``Entry`` list
(SQLite FTS5, bm25) and ``routes.py`` serves it as ``GET /api/public/v1/search``.

Guides: one Markdown file per page, ``<order>-<slug>.md`` (``01-overview.md``: order 1, slug
``overview``), starting with a ``# Title`` line; each ``## Section`` is a search entry of its
own (``/developers/guides/<slug>#<anchor>``). No front matter. Inline code spans
(`` `x-api-key` ``, `` `429` ``) are the API's own tokens: they become the entry's search
terms.
"""
