"""GraphiQL, served from this origin: its page and its assets, nothing from a CDN.

The assets are GraphiQL 2.4.7's UMD build and React 17.0.2's production builds, as the pinned
PyPI package ``graphene-django-graphiql-static`` ships them (``graphiql.min.js`` and
``graphiql.min.css`` are npm's files byte for byte, plus a final newline), read once at
start-up: only the files GraphiQL needs are served (``ASSETS``), by name, from memory, so no
other file of the package or the disk can be reached. Each is linked with its Subresource
Integrity hash (computed from those bytes) and a version in its URL (``?v=``), under which it
is cached for a year.

The page (``GraphiQL.page``) is built once: its one inline script and style are allowed by
their hashes in its Content-Security-Policy (``pages.py``). The script sends ``x-api-key`` and
``x-organization-id`` with every request, taken from the URL fragment
(``#x-api-key=…&x-organization-id=…``, as the portal links: never sent to the server, stored,
then cleared from the address bar) or from what its small form stored in ``localStorage``.
Its first tabs are the examples: each persisted operations file, one tab per file (its
operations, picked from the run button); GraphiQL reopens its own stored tabs after that, and
the form's reset button brings the examples back.
"""

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["ASSETS", "Asset", "GraphiQL"]

PACKAGE = "graphene_django_graphiql_static"  # its files live under static/<package>/
# What the page loads, in order: React, ReactDOM, GraphiQL (which needs both as globals), and
# GraphiQL's stylesheet. The package's other files (a fetch polyfill, the subscription
# transport, the explorer plugin, Django views) are not served.
SCRIPTS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js")
STYLES = ("graphiql.min.css",)
ASSETS = (*SCRIPTS, *STYLES)
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_CACHED = "public, max-age=31536000, immutable"  # a versioned URL (``?v=``) never changes
_REVALIDATED = "no-cache"  # the bare name: the package may be upgraded under it


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    media_type: str

    @cached_property
    def integrity(self) -> str:
        """Its Subresource Integrity value (``sha384-…``)."""
        return "sha384-" + base64.b64encode(hashlib.sha384(self.body).digest()).decode()

    @cached_property
    def version(self) -> str:
        """A short digest of its bytes: the ``v`` of its URL, and its ETag."""
        return hashlib.sha256(self.body).hexdigest()[:16]

    @classmethod
    def load(cls, name: str) -> "Asset":
        suffix = name[name.rfind(".") :]
        path = resources.files(PACKAGE).joinpath("static", PACKAGE, name)
        return cls(name, path.read_bytes(), _MEDIA_TYPES[suffix])


class GraphiQL:
    """The page at ``endpoint`` (a browser's GET) and its assets below ``assets_path``.
    ``examples``: the GraphQL documents of its first tabs."""

    def __init__(self, endpoint: str, assets_path: str, examples: Sequence[str]) -> None:
        self.endpoint = endpoint
        self.assets_path = assets_path
        self.assets = {name: Asset.load(name) for name in ASSETS}
        self.examples = tuple(examples)
        self.page = self._page()

    def url(self, asset: Asset) -> str:
        return f"{self.assets_path}/{asset.name}?v={asset.version}"

    async def asset(self, request: Request) -> Response:
        """``GET <assets_path>/{name}``: one of ``ASSETS``, else a 404."""
        asset = self.assets.get(request.path_params.get("name", ""))
        if asset is None:
            raise HTTPException(404, "No such asset.")
        etag = f'"{asset.version}"'
        versioned = request.query_params.get("v") == asset.version
        headers = {"etag": etag, "cache-control": _CACHED if versioned else _REVALIDATED}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    def _page(self) -> str:
        styles = "".join(
            f'<link rel="stylesheet" href="{self.url(a)}" integrity="{a.integrity}">\n'
            for a in (self.assets[name] for name in STYLES)
        )
        scripts = "".join(
            f'<script src="{self.url(a)}" integrity="{a.integrity}"></script>\n'
            for a in (self.assets[name] for name in SCRIPTS)
        )
        # JSON inside a script element: only "</" could end it early, so it is escaped.
        settings = json.dumps(
            {"endpoint": self.endpoint, "examples": list(self.examples)}, ensure_ascii=True
        ).replace("</", "<\\/")
        return (
            _PAGE.replace("<!--styles-->\n", styles)
            .replace("<!--scripts-->\n", scripts)
            .replace("__SETTINGS__", settings)
        )


_STYLE = """
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font-family: system-ui, sans-serif; }
#credentials { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: center;
  padding: 0.5rem 1rem; border-bottom: 1px solid #d0d4db; font-size: 0.875rem; }
#credentials input { font-family: ui-monospace, monospace; width: 20rem; }
#graphiql { flex: 1; min-height: 0; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var settings = __SETTINGS__;
  var names = ["x-api-key", "x-organization-id"];
  var stored = function (name) { return "asteri.graphiql." + name; };
  var fragment = new URLSearchParams(window.location.hash.slice(1));
  if (names.some(function (name) { return fragment.has(name); })) {
    names.forEach(function (name) {
      if (fragment.has(name)) { window.localStorage.setItem(stored(name), fragment.get(name)); }
    });
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  var headers = {};
  names.forEach(function (name) {
    var value = window.localStorage.getItem(stored(name)) || "";
    document.getElementById(name).value = value;
    if (value) { headers[name] = value; }
  });
  document.getElementById("credentials").addEventListener("submit", function (event) {
    event.preventDefault();
    names.forEach(function (name) {
      var value = document.getElementById(name).value.trim();
      if (value) { window.localStorage.setItem(stored(name), value); }
      else { window.localStorage.removeItem(stored(name)); }
    });
    window.location.reload();
  });
  document.getElementById("examples").addEventListener("click", function () {
    window.localStorage.removeItem("graphiql:tabState");
    window.localStorage.removeItem("graphiql:query");
    window.location.reload();
  });
  var shown = JSON.stringify(headers, null, 2);
  ReactDOM.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: settings.endpoint, headers: headers }),
      defaultTabs: settings.examples.map(function (query) {
        return { query: query, headers: shown };
      }),
      defaultHeaders: shown,
      shouldPersistHeaders: false
    }),
    document.getElementById("graphiql")
  );
})();
"""

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Asteri Public API · GraphiQL</title>
<!--styles-->
<style>{_STYLE}</style>
</head>
<body>
<form id="credentials">
<label for="x-api-key">API key (<code>x-api-key</code>)</label>
<input id="x-api-key" type="password" autocomplete="off" spellcheck="false"
  placeholder="ast_live_…">
<label for="x-organization-id">Organization (<code>x-organization-id</code>)</label>
<input id="x-organization-id" autocomplete="off" spellcheck="false" placeholder="org_…">
<button type="submit">Use in every request</button>
<button type="button" id="examples">Reset the tabs to the examples</button>
</form>
<div id="graphiql">Loading GraphiQL…</div>
<!--scripts-->
<script>{_SCRIPT}</script>
</body>
</html>
"""
