"""Developer search: the reference index's entries, ranked by SQLite FTS5 (bm25).

The design, and why:

- **One in-memory FTS5 table**, built once per process from ``ReferenceIndex.entries`` (a few
  thousand rows: built in milliseconds, queried in well under one). Python's ``sqlite3`` is in
  the standard library and its SQLite has FTS5; no service to run, nothing to keep in sync.
- **The API's vocabulary is one token each.** The tokenizer is
  ``unicode61 remove_diacritics 2 tokenchars ':.-_'``: ``write:estimates``, ``invoice.paid``,
  ``x-organization-id``, ``Retry-After``, ``RATE_LIMITED`` and ``429`` are single tokens (case
  folded), so searching one finds exactly that name, not every page that says "write" or "id".
- **A plain-word column** (``words``) holds the compound tokens of the title, terms and
  summary again, split into words: separators (``:.-_``) become spaces and camelCase is split
  (``createCustomer`` → ``create Customer``). So ``invoice paid`` finds ``invoice.paid`` and
  ``create customer`` finds ``CreateCustomer``, and a plain word is not counted twice. A
  query token that contains a separator also matches its words as a phrase in that column
  (``invoice.paid`` → ``words:"invoice paid"``), and a query of several words scores once
  more where they stand side by side there.
- **Prose keeps its words**: a separator that ends or starts a word (a sentence's full stop,
  ``invoice.``) is set apart with a zero-width space before indexing (``stored``), so the
  tokenizer sees ``invoice``, not ``invoice.``; snippets drop the spaces again.
- **Columns are weighted** (``WEIGHTS``): title above terms above the plain words above summary
  above body. FTS5's own weighted bm25 saturates the frequency of a term over the whole row,
  so a title match barely beats a body that repeats the word: the score is instead each
  column's bm25, weighted and summed (``_SCORE``, as BM25F-style rankers do). A field entry's
  score is scaled by ``FIELD_FACTOR``: it is a part of its type's page, which should rank
  above it at equal relevance.
- **Exact names first**: an entry whose key is the query itself (``Customer``,
  ``write:estimates``, ``RATE_LIMITED``, ``invoice.paid``), or the query with its last word
  completed, ranks first, whatever the scores.
- **As you type**: each query token ``t`` is ``("t" OR "t"*)``: the prefix finds ``paym…``,
  and a whole-token match counts twice (both alternatives match), so exact names rank above
  names they begin. The last token is also completed to the indexed word it begins that the
  most entries hold (``paym`` → ``payment``; one range scan of the ``fts5vocab`` table), unless
  it is at least as common a word itself. Tokens are ANDed; when that finds nothing they are
  ORed.
- **Sanitized**: a query is cut into tokens of letters, digits and ``:.-_`` by a regular
  expression, and each token is written as an FTS5 string (double-quoted; a token holds no
  quote), so no input reaches FTS5's syntax: ``"``, ``*``, ``NEAR(``, ``AND``, ``-`` or NUL are
  text or nothing. At most ``MAX_TOKENS`` tokens of the first ``MAX_QUERY_CHARS`` characters
  are used; the HTTP layer refuses longer queries (422).
- **Snippets** come from FTS5's ``snippet()`` with control characters as markers, HTML-escaped
  afterwards, then the markers become ``<mark>``/``</mark>``: the matched words are marked and
  nothing else in the text can inject markup.
"""

import html
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asteri.portal.index import Entry, build_index

__all__ = ["MAX_QUERY_CHARS", "MAX_TOKENS", "WEIGHTS", "Hit", "SearchIndex", "search_index"]

MAX_QUERY_CHARS = 200
MAX_TOKENS = 12
# bm25 column weights, in column order: title, terms, words, summary, body.
WEIGHTS = (10.0, 6.0, 4.0, 2.0, 1.0)
# A field is a part of its type's page: its score is scaled by this, so that at equal relevance
# the pages (guides, operations, types…) rank above the parts (bm25 is negative: lower ranks
# first).
FIELD_FACTOR = 0.6
TOKENIZER = "unicode61 remove_diacritics 2 tokenchars ':.-_'"

_OPEN, _CLOSE = "\x02", "\x03"  # snippet markers: control characters no entry contains
# The score: each column's own bm25 (FTS5's bm25 saturates a row's term frequency over all
# columns at once, so weights alone barely separate a title match from a body full of the
# word), weighted and summed, as BM25F-style rankers do.
_SCORE = " + ".join(
    f"{weight} * bm25(entries{', 0' * i}, 1{', 0' * (len(WEIGHTS) - i - 1)})"
    for i, weight in enumerate(WEIGHTS)
)
# Only constants are formatted in: the expression, the names and the limit are parameters.
_SELECT = (
    "SELECT title, kind, url, "  # noqa: S608
    f"snippet(entries, 3, '{_OPEN}', '{_CLOSE}', '…', 16), "
    f"snippet(entries, 4, '{_OPEN}', '{_CLOSE}', '…', 16), "
    f"snippet(entries, 0, '{_OPEN}', '{_CLOSE}', '…', 16) "
    "FROM entries WHERE entries MATCH ? "
    f"ORDER BY lower(key) IN (?, ?) DESC, ({_SCORE}) * (CASE kind WHEN 'field' "
    f"THEN {FIELD_FACTOR} ELSE 1.0 END), rowid LIMIT ?"
)
_QUERY_TOKEN = re.compile(r"[^\W_]+(?:[:.\-_]+[^\W_]+)*")  # letters and digits, joined by :.-_
_SEPARATORS = re.compile(r"[:.\-_]+")
_TRAILING = re.compile(r"(?<=[^\W_])([:.\-_]+)(?![^\W_])")
_LEADING = re.compile(r"(?<![^\W_])([:.\-_]+)(?=[^\W_])")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True)
class Hit:
    title: str
    kind: str
    snippet: str  # HTML: escaped text, the matched words in <mark>…</mark>
    url: str

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "kind": self.kind, "snippet": self.snippet, "url": self.url}


def plain_words(*texts: str) -> str:
    """The plain-word form of identifiers: ``invoice.paid`` → ``invoice paid``,
    ``createCustomer`` → ``create Customer``."""
    return " ".join(_CAMEL.sub(" ", _SEPARATORS.sub(" ", text)) for text in texts)


def stored(text: str) -> str:
    """Text as the index stores it: a separator (``:.-_``) that ends or starts a word, as a
    sentence's full stop does, is set apart by a zero-width space, so that ``invoice.`` is
    the word ``invoice`` (the snippets drop the spaces again)."""
    text = _TRAILING.sub("\u200b\\1", text)
    return _LEADING.sub("\\1\u200b", text)


def compound_words(*texts: str) -> str:
    """The words of the compound tokens only (``invoice.paid``, ``createCustomer``), each
    split: what the ``words`` column holds, so a plain word is not counted twice."""
    found = []
    for text in texts:
        for token in _QUERY_TOKEN.findall(text):
            words = plain_words(token)
            if words != token:
                found.append(words)
    return " ".join(found)


def query_tokens(query: str) -> list[str]:
    """The query's tokens, as the index's tokenizer would cut them (at most ``MAX_TOKENS``)."""
    return _QUERY_TOKEN.findall(query[:MAX_QUERY_CHARS])[:MAX_TOKENS]


def match_expression(
    tokens: Sequence[str], operator: str = "AND", completion: str | None = None
) -> str:
    """An FTS5 expression built only of double-quoted tokens: never a syntax error.
    ``completion``: a whole word the last token may be the beginning of."""
    parts = []
    for i, token in enumerate(tokens):
        alternatives = [f'"{token}"', f'"{token}"*']
        if completion is not None and i == len(tokens) - 1:
            alternatives.append(f'"{completion}"')
        words = plain_words(token).split()
        if len(words) > 1:
            alternatives.append(f'words:"{" ".join(words)}"')
        parts.append("(" + " OR ".join(alternatives) + ")")
    return f" {operator} ".join(parts)


def _marked(snippet: str) -> str:
    escaped = html.escape(snippet.replace("\u200b", ""))
    return escaped.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


class SearchIndex:
    """The entries in an in-memory FTS5 table; ``search`` ranks them."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()  # one connection, shared by the server's threads
        self._db.execute(
            "CREATE VIRTUAL TABLE entries USING fts5("
            "title, terms, words, summary, body, kind UNINDEXED, key UNINDEXED, url UNINDEXED, "
            f"tokenize = \"{TOKENIZER}\", prefix = '2 3')"
        )
        self._db.execute("CREATE VIRTUAL TABLE vocabulary USING fts5vocab(entries, row)")
        self._db.executemany(
            "INSERT INTO entries (title, terms, words, summary, body, kind, key, url) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    stored(e.title),
                    " ".join(e.terms),
                    compound_words(e.title, *e.terms, e.summary),
                    stored(e.summary),
                    stored(e.body),
                    e.kind,
                    e.key,
                    e.url,
                )
                for e in entries
            ),
        )
        self._db.commit()
        self.size = self._db.execute("SELECT count(*) FROM entries").fetchone()[0]

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        """Ranked hits for ``query``, at most ``limit``; none for a query without a token."""
        tokens = query_tokens(query)
        if not tokens or limit < 1:
            return []
        completion = self._completion(tokens[-1])
        # An entry named exactly as the query, or as the query with its last word completed,
        # ranks first (``Customer``, ``write:estimates``, ``paym`` → ``Payment``).
        named = " ".join(tokens).lower()
        names = (named, " ".join([*tokens[:-1], completion]).lower() if completion else named)
        for operator in ("AND", "OR") if len(tokens) > 1 else ("AND",):
            expression = match_expression(tokens, operator, completion)
            words = plain_words(*tokens).split()
            if len(words) > 1:  # adjacent words score once more (a row matching it matches
                # the tokens already, so it adds no row, only weight)
                expression = f'({expression}) OR words:"{" ".join(words)}"'
            hits = self._run(expression, names, limit)
            if hits:
                return hits
        return []

    def _completion(self, token: str) -> str | None:
        """What an unfinished last token most likely is: the indexed word it begins that the
        most entries hold (``paym`` → ``payment``), unless it is a word of its own already.
        One range scan of the index's vocabulary (``fts5vocab``)."""
        prefix = token.lower()
        with self._lock:
            rows = self._db.execute(
                "SELECT term, doc FROM vocabulary WHERE term >= ? AND term < ? "
                "ORDER BY term = ? DESC, doc DESC, length(term), term LIMIT 2",
                (prefix, prefix + "\U0010ffff", prefix),
            ).fetchall()
        own = rows[0][1] if rows and rows[0][0] == prefix else 0
        longer = [(term, docs) for term, docs in rows if term != prefix]
        if not longer or longer[0][1] <= own:  # a word of its own, at least as common
            return None
        return str(longer[0][0])

    def _run(self, expression: str, names: tuple[str, str], limit: int) -> list[Hit]:
        try:
            with self._lock:
                rows = self._db.execute(_SELECT, (expression, *names, limit)).fetchall()
        except sqlite3.OperationalError:  # a token FTS5 still refuses: no results, never a 500
            return []
        hits = []
        for title, kind, url, summary, body, titled in rows:
            # The summary, or the body, or the title, whichever shows the match first.
            snippet = next((s for s in (summary, body, titled) if _OPEN in s), summary)
            hits.append(Hit(title.replace("\u200b", ""), kind, _marked(snippet), url))
        return hits


_shared: SearchIndex | None = None
_shared_lock = threading.Lock()


def search_index() -> SearchIndex:
    """The process's search index over ``build_index()``, built on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SearchIndex(build_index().entries)
        return _shared
