"""``make bench-hostile``: can a hostile GraphQL document hold the server?

The issue's target: parse and validate are bounded so that a keyed request sent at the same
moment is served within about 100 ms of its usual time. One run, one real server
(``uvicorn --workers 1``, the app's own event loop), on the PostgreSQL of our machines
(``BENCH_POSTGRES_URL``, used only to create and drop a uniquely named database):

1. creates the database, migrates it, provisions two organizations with an all-scopes key each
   (``run.provision``: a victim and an attacker, both keys at the highest rate limits, so the
   limiter never refuses the load) and seeds 60 customers (``run.seed``); the server runs with
   ``ASTERI_ANONYMOUS_DOCUMENTS_PER_MINUTE`` raised, so unauthenticated documents reach the
   work they would cause instead of a 429: this measures the CPU a refusal costs;
2. crafts the hostile documents from the limits the server enforces (``Settings``,
   ``MAX_EXPANSIONS``, the HTTP body limit), checking each is what it claims (bytes, tokens,
   expansions) before sending it; every document is unique per request (a counter in a name),
   so the validation cache never answers for it. Four kinds:

   a. without a key, just under and over the byte and token limits (as large as the HTTP
      layer accepts; exactly one byte or token over; exactly at both limits with too many
      selections or fragments): refused before or by the parser;
   b. the worst that pass the pre-parse limits, most with the attacker's key: the most
      same-named fields (validation's overlap check is quadratic), the most fragments, a
      fragment chain just under and just over the expansion budget, a cycle of fragments
      that select no field, an empty selection set; one introspection-shaped document without
      a key (introspection spends no anonymous budget);
   c. as many operations as the limits allow, without ``operationName`` (with and without a
      key), and with one naming none of them;
   d. alias-heavy list queries over the cost limit;

3. measures the victim's keyed reads alone, sequentially (REST ``GET /customers/{id}`` and the
   persisted GetCustomer by sha256, interleaved), before the attacks and again after them:
   p50/p95/p99/max of both together;
4. sends each document alone and, from the moment it is written until it is answered, keyed
   REST reads back to back ("a keyed request sent at the same moment": the slowest of them
   arrived while the document was being parsed and validated): the document's own time and
   the slowest keyed read; PASS if that read (median over the rounds: one slow round on a
   shared machine is noise) is within the target of the usual (alone) p50;
5. for each kind, ``BENCH_ATTACKERS`` connections (a separate process, so the client's GIL is
   not the server's) send its documents continuously while the keyed reads are measured
   again; PASS if the keyed p99 is within the target of its p99 alone. A document that alone
   holds the server longer than a second is left out of this load (its FAIL is in step 4;
   with it, the run would last as long as the documents hold the server);
6. prints the tables and writes ``benchmarks/results/hostile-latest.json``; always stops the
   server and the attackers and drops the database, on success, failure or Ctrl-C.

Every attacker answer must be a 4xx with a problem code; a 5xx, or a keyed read that fails
(non-200, wrong data, socket error), makes the run invalid (exit 1). A missed target, or an
answer that is not a proper refusal, is a result (FAIL, exit 0). A busy machine is detected as
in ``make bench`` and the run labelled CONTENDED.

Settings (environment): ``BENCH_ATTACKERS`` concurrent attacker connections (4),
``BENCH_HOSTILE_REQUESTS`` keyed reads per scenario and phase (300),
``BENCH_HOSTILE_SECONDS`` at most this long per attacked phase (8), ``BENCH_HOSTILE_ROUNDS``
times each document is sent alone (5), ``BENCH_POSTGRES_URL``.
"""

from __future__ import annotations

import http.client
import json
import math
import multiprocessing
import os
import platform
import secrets
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (benchmarks/run.py: database, server, CPU and contention helpers)

from asteri.kit.settings import Settings  # noqa: E402
from asteri.schema.limits import Limits  # noqa: E402

ATTACKERS = int(os.environ.get("BENCH_ATTACKERS", "4"))
REQUESTS = int(os.environ.get("BENCH_HOSTILE_REQUESTS", "300"))
SECONDS = float(os.environ.get("BENCH_HOSTILE_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_HOSTILE_ROUNDS", "5"))
TARGET_MS = 100.0  # the issue: within about 100 ms of the usual time
WARMUP_S = 1.0  # attack before measuring, so the server is saturated when the keyed reads start
LONG_S = 1.0  # a document this slow alone is sent once, not ROUNDS times
KEYED_TIMEOUT_S = 60.0  # a keyed read waits behind a document that holds the server
KEEP_ALIVE = ("--timeout-keep-alive", "300")  # a connection may wait that long between reads
KEYED_SCENARIOS = ("rest_point", "gql_persisted_point")  # of run.build_scenarios
MARKER = "Z0000000"  # replaced per request by a counter: the validation cache never hits
RESULT = run.RESULTS / "hostile-latest.json"
# Documents sent without a credential may spend this per minute: high enough to never refuse.
ANONYMOUS_PER_MINUTE = 1_000_000_000
KINDS = {
    "a": "no key, at and over the byte/token limits",
    "b": "worst past the pre-parse limits",
    "c": "several operations, no operationName",
    "d": "alias-heavy, over the cost limit",
}


def log(message: str) -> None:
    print(f"[hostile] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# The documents, crafted from the limits the server enforces


@dataclass(frozen=True)
class Hostile:
    name: str
    kind: str  # a key of KINDS
    what: str
    query: str  # holds MARKER once
    keyed: bool  # with the attacker's key
    expect: tuple[int, str, str | None]  # HTTP status, problem code, reason
    operation_name: str | None = None

    def body(self) -> bytes:
        payload: dict[str, Any] = {"query": self.query}
        if self.operation_name is not None:
            payload["operationName"] = self.operation_name
        return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Bounds(Limits):
    """What the server enforces: the document limits it checks (``Limits``, from the same
    settings), and the bounds around them, read from its own code."""

    max_aliases: int
    max_page_size: int
    max_expansions: int
    max_body_bytes: int

    @classmethod
    def read(cls, settings: Settings) -> Bounds:
        from asteri.app import MAX_BODY_BYTES
        from asteri.schema.limits import MAX_EXPANSIONS

        return cls(
            **asdict(Limits.of(settings)),
            max_aliases=settings.max_aliases,
            max_page_size=settings.max_page_size,
            max_expansions=MAX_EXPANSIONS,
            max_body_bytes=MAX_BODY_BYTES,
        )


def _parses_within(query: str, tokens: int) -> bool:
    """Whether the parser, stopping at ``tokens``, reads the whole document."""
    from graphql import GraphQLSyntaxError, parse

    try:
        parse(query, max_tokens=tokens)
    except GraphQLSyntaxError as error:
        return "Parsing aborted" not in error.message
    return True


def _expands_within_budget(query: str) -> bool:
    """The server's own shape check, run here: do the spreads expand within
    ``MAX_EXPANSIONS``?"""
    from graphql import parse

    from asteri.schema.limits import _shape

    refusal = _shape(parse(query))
    return refusal is None or refusal.original_error.extra.get("reason") != "too_many_expansions"  # type: ignore[union-attr]


def _padded(query: str, size: int) -> str:
    """``query`` after a comment line that makes it exactly ``size`` bytes (one token)."""
    room = size - len(query.encode()) - 2
    if room < 0:
        raise run.BenchError(f"cannot pad a {len(query)}-byte document to {size} bytes")
    return "#" + "." * room + "\n" + query


def _chain(fragments: int) -> str:
    """Each fragment spreads the next twice; the last selects one object: 2^n expansions."""
    defs = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(fragments - 1)]
    defs.append(f'fragment F{fragments - 1} on Query {{ customer(id: "x") {{ id }} }}')
    return f"query {MARKER} {{ ...F0 nope }} " + " ".join(defs)


def _cycle(fragments: int) -> str:
    """Each fragment spreads the next two, the last spreads the first: no field anywhere, and
    the walks that follow spreads would take Fibonacci(n) paths (the server refuses the cycle
    before any of them)."""
    defs = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 2} }}" for i in range(fragments - 2)]
    defs.append(f"fragment F{fragments - 2} on Query {{ ...F{fragments - 1} }}")
    defs.append(f"fragment F{fragments - 1} on Query {{ ...F0 }}")
    return f"query {MARKER} {{ ...F0 __typename }} " + " ".join(defs)


def craft(b: Bounds) -> list[Hostile]:
    too_large = (400, "BAD_REQUEST", "document_too_large")
    too_many_tokens = (400, "BAD_REQUEST", "too_many_tokens")
    invalid = (400, "GRAPHQL_VALIDATION_FAILED", None)
    same_name = (400, "BAD_REQUEST", "too_many_same_name")
    costly = (400, "BAD_REQUEST", "query_too_costly")
    no_name = (400, "BAD_REQUEST", "operation_name_required")
    head = f"query {MARKER} {{ "
    # As large as the HTTP layer lets through to GraphQL (the JSON around it included).
    body_room = int(b.max_body_bytes * 0.95)
    unused = "fragment f{} on Query {{ __typename }} "
    many_fragments = head + "__typename } "
    i = 0
    while len(many_fragments) < body_room - 60:
        many_fragments += unused.format(i)
        i += 1
    typenames = head + "__typename " * ((body_room - len(head)) // 11) + "}"
    # Tokens: the comment line is one; `query`, the name, `{` and `}` four more.
    over_by_one = _padded(head + "__typename " * (b.max_tokens + 1 - 5) + "}", b.max_bytes)
    at_limit = _padded(head + "__typename " * (b.max_tokens - 5) + "}", b.max_bytes)
    fragment_count = (b.max_tokens - 6) // 7  # 7 tokens each, 6 for the comment and operation
    at_limit_fragments = _padded(
        head + "__typename } " + "".join(unused.format(n) for n in range(fragment_count)),
        b.max_bytes,
    )
    tokens_only = head + "__typename " * ((b.max_bytes - len(head) - 1) // 11)
    tokens_only += " " * (b.max_bytes - len(tokens_only) - 1) + "}"
    one_byte_over = head + "__typename }"
    one_byte_over += " " * (b.max_bytes + 1 - len(one_byte_over))

    same_field = 'customer(id: "x") { id } '
    overlap = head + same_field * ((b.max_selections - 1) // 2) + "nope }"
    introspection_field = '__type(name: "x") { name } '
    introspection = (
        head + introspection_field * ((b.max_selections - 2) // 2) + '__type(name: "x") { nope } }'
    )
    per_fragment = (b.max_selections - 1 - 2 * b.max_fragments) // (2 * b.max_fragments)
    fragments = (
        head
        + " ".join(f"...F{n}" for n in range(b.max_fragments))
        + " nope } "
        + " ".join(
            f"fragment F{n} on Query {{ {same_field * per_fragment}}}"
            for n in range(b.max_fragments)
        )
    )
    chain_length = next(
        (n for n in range(2, b.max_fragments + 1) if not _expands_within_budget(_chain(n))),
        b.max_fragments + 1,
    )
    operations = min(b.max_selections, b.max_tokens // 5)  # `query qN { __typename }`
    many_operations = f"query {MARKER} {{ __typename }} " + " ".join(
        f"query q{n} {{ __typename }}" for n in range(1, operations)
    )
    page = b.max_page_size
    costly_alias = (
        "a{n}: customers(first: {p}) {{ nodes {{ activity(first: {p}) {{ action }} }} }} "
    )

    def aliases(count: int) -> str:
        return head + "".join(costly_alias.format(n=n, p=page) for n in range(count)) + "}"

    found = [
        Hostile(
            "fragments_over_bytes",
            "a",
            f"{i:,} unused fragments ({len(many_fragments):,} bytes)",
            many_fragments,
            False,
            too_large,
        ),
        Hostile(
            "typenames_over_bytes",
            "a",
            f"{(len(typenames) - len(head)) // 11:,} __typename ({len(typenames):,} bytes)",
            typenames,
            False,
            too_large,
        ),
        Hostile(
            "one_byte_over",
            "a",
            f"{b.max_bytes + 1:,} bytes, a few tokens",
            one_byte_over,
            False,
            too_large,
        ),
        Hostile(
            "tokens_over_at_max_bytes",
            "a",
            f"{b.max_bytes:,} bytes of __typename ({len(tokens_only) // 11:,} tokens)",
            tokens_only,
            False,
            too_many_tokens,
        ),
        Hostile(
            "one_token_over_at_max_bytes",
            "a",
            f"{b.max_bytes:,} bytes (a comment), {b.max_tokens + 1:,} tokens",
            over_by_one,
            False,
            too_many_tokens,
        ),
        Hostile(
            "at_both_limits_selections",
            "a",
            f"{b.max_bytes:,} bytes, {b.max_tokens:,} tokens, {b.max_tokens - 5:,} selections",
            at_limit,
            False,
            (400, "BAD_REQUEST", "too_many_selections"),
        ),
        Hostile(
            "at_both_limits_fragments",
            "a",
            f"{b.max_bytes:,} bytes, {fragment_count} unused fragments",
            at_limit_fragments,
            False,
            (400, "BAD_REQUEST", "too_many_fragments"),
        ),
        Hostile(
            "overlap_same_field",
            "b",
            f"{(b.max_selections - 1) // 2} x customer(id) {{ id }} + unknown field",
            overlap,
            True,
            same_name,
        ),
        Hostile(
            "overlap_introspection_no_key",
            "b",
            f"{(b.max_selections - 2) // 2 + 1} x __type(name) {{ name }}, one bad field, no key",
            introspection,
            False,
            same_name,
        ),
        Hostile(
            "max_fragments",
            "b",
            f"{b.max_fragments} fragments x {per_fragment} customer(id) {{ id }}, all spread",
            fragments,
            True,
            invalid,
        ),
        Hostile(
            "spread_chain_under_budget",
            "b",
            f"{chain_length - 1} fragments, each spreading the next twice",
            _chain(chain_length - 1),
            True,
            invalid,
        ),
        *(
            [
                Hostile(
                    "spread_chain_over_budget",
                    "b",
                    f"{chain_length} fragments, each spreading the next twice",
                    _chain(chain_length),
                    True,
                    (400, "BAD_REQUEST", "too_many_expansions"),
                )
            ]
            if chain_length <= b.max_fragments
            else []
        ),
        Hostile(
            "fragment_cycle_no_fields",
            "b",
            f"{b.max_fragments} fragments spreading the next two, last spreads the first",
            _cycle(b.max_fragments),
            True,
            (400, "BAD_REQUEST", "fragment_cycle"),
        ),
        Hostile(
            "empty_selection_set",
            "b",
            "customers { } (an empty selection set)",
            head + "customers { } }",
            True,
            (400, "BAD_REQUEST", "empty_selection"),
        ),
        Hostile(
            "operations_no_name_no_key",
            "c",
            f"{operations} operations, no operationName, no key",
            many_operations,
            False,
            no_name,
        ),
        Hostile(
            "operations_no_name",
            "c",
            f"{operations} operations, no operationName",
            many_operations,
            True,
            no_name,
        ),
        Hostile(
            "operations_unknown_name",
            "c",
            f"{operations} operations, operationName naming none",
            many_operations,
            True,
            (400, "BAD_REQUEST", None),
            operation_name="none_of_them",
        ),
        Hostile(
            "aliases_max_costly",
            "d",
            f"{b.max_aliases} aliases of customers({page}) {{ activity({page}) }}",
            aliases(b.max_aliases),
            True,
            costly,
        ),
        Hostile(
            "aliases_max_selections_costly",
            "d",
            f"{b.max_selections // 4} aliases of customers({page}) {{ activity({page}) }}",
            aliases(b.max_selections // 4),
            True,
            costly,
        ),
    ]
    _check_crafted(found, b, over_by_one, at_limit)
    return found


def _check_crafted(found: list[Hostile], b: Bounds, over_by_one: str, at_limit: str) -> None:
    """Each document is what its name says, or the run would measure something else."""
    problems = [h.name for h in found if h.query.count(MARKER) != 1]
    problems += [h.name for h in found if len(h.body()) >= b.max_body_bytes]
    sizes = {h.name: len(h.query.encode()) for h in found}
    if sizes["one_byte_over"] != b.max_bytes + 1:
        problems.append("one_byte_over")
    for name in ("tokens_over_at_max_bytes", "one_token_over_at_max_bytes"):
        if sizes[name] != b.max_bytes:
            problems.append(name)
    if _parses_within(over_by_one, b.max_tokens) or not _parses_within(
        over_by_one, b.max_tokens + 1
    ):
        problems.append("one_token_over_at_max_bytes: not exactly one token over")
    if not _parses_within(at_limit, b.max_tokens) or _parses_within(at_limit, b.max_tokens - 1):
        problems.append("at_both_limits_selections: not exactly at the token limit")
    within_limits = [h for h in found if h.kind != "a"]
    problems += [h.name for h in within_limits if not _parses_within(h.query, b.max_tokens)]
    problems += [h.name for h in within_limits if len(h.query.encode()) > b.max_bytes]
    if not _expands_within_budget(next(h.query for h in found if h.name.endswith("under_budget"))):
        problems.append("spread_chain_under_budget: over the budget")
    if problems:
        raise run.BenchError("crafted documents are not what they claim: " + ", ".join(problems))


# --------------------------------------------------------------------------------------------
# Sending: the victim's keyed reads, the attackers' documents


@dataclass(frozen=True)
class Answer:
    status: int
    code: str | None
    reason: str | None

    @classmethod
    def of(cls, status: int, raw: bytes) -> Answer:
        """The problem code and reason: of the first GraphQL error, or of a problem body."""
        try:
            body = json.loads(raw)
        except ValueError:
            return cls(status, None, None)
        if isinstance(body, dict) and body.get("errors"):
            extensions = body["errors"][0].get("extensions") or {}
            return cls(status, extensions.get("code"), extensions.get("reason"))
        if isinstance(body, dict):
            return cls(status, body.get("code"), body.get("reason"))
        return cls(status, None, None)

    @property
    def refused(self) -> bool:
        return 400 <= self.status < 500 and self.code is not None

    def label(self) -> str:
        return f"{self.status} {self.code or '(no code)'}" + (
            f"/{self.reason}" if self.reason else ""
        )


def _headers(cred: run.Credential | None) -> dict[str, str]:
    base = {"content-type": "application/json", "accept": "application/json"}
    return {**base, **cred.headers()} if cred is not None else base


def send(conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> Answer:
    conn.request("POST", run.GRAPHQL_PATH, body, headers)
    response = conn.getresponse()
    return Answer.of(response.status, response.read())


class KeyedReads:
    """The victim: REST point reads and persisted GetCustomer by hash, interleaved, one at a
    time on one keep-alive connection, each answer checked."""

    def __init__(self, port: int, scenarios: list[run.Scenario], cred: run.Credential) -> None:
        self.port = port
        self.scenarios = scenarios
        self.cred = cred
        self.sent = 0
        self.failures: list[str] = []
        self.conn = http.client.HTTPConnection(run.HOST, port, timeout=KEYED_TIMEOUT_S)

    def one(self, scenario: run.Scenario) -> float | None:
        """Milliseconds, or None (recorded in ``failures``) if the answer is wrong; a socket
        error ends the run."""
        payload = scenario.payloads[self.sent % len(scenario.payloads)]
        self.sent += 1
        headers = {**_headers(None), **self.cred.headers()}
        started = time.perf_counter()
        try:
            if scenario.method == "GET":
                self.conn.request("GET", payload, headers=headers)
            else:
                self.conn.request("POST", scenario.path, json.dumps(payload).encode(), headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            # The server is gone or wedged: nothing after this would measure anything.
            raise run.BenchError(
                f"keyed {scenario.name} failed: {type(exc).__name__}: {exc}"
            ) from exc
        elapsed = (time.perf_counter() - started) * 1000
        problem = f"HTTP {response.status}" if response.status != 200 else None
        if problem is None:
            body = json.loads(raw)
            problem = "GraphQL errors" if body.get("errors") else scenario.check(body, payload)
        if problem:
            self.failures.append(f"{scenario.name}: {problem}: {raw[:300]!r}")
            return None
        return elapsed

    def batch(self, requests: int, seconds: float | None) -> dict[str, list[float]]:
        """Up to ``requests`` of each scenario, interleaved, or until ``seconds`` have passed."""
        found: dict[str, list[float]] = {s.key: [] for s in self.scenarios}
        deadline = None if seconds is None else time.perf_counter() + seconds
        for _ in range(requests):
            for scenario in self.scenarios:
                ms = self.one(scenario)
                if ms is not None:
                    found[scenario.key].append(ms)
            if deadline is not None and time.perf_counter() > deadline:
                break
        return found


def percentiles(samples: list[float]) -> dict[str, float | int | None]:
    if not samples:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 2)

    return {
        "n": len(ordered),
        "p50_ms": rank(50),
        "p95_ms": rank(95),
        "p99_ms": rank(99),
        "max_ms": round(ordered[-1], 2),
    }


def _attacker(
    port: int,
    documents: list[tuple[str, bytes, dict[str, str]]],
    number: int,
    stop: Event,
    counts: Counter[tuple[str, str]],
) -> None:
    conn = http.client.HTTPConnection(run.HOST, port, timeout=KEYED_TIMEOUT_S)
    index = number * 3  # the connections start on different documents
    while not stop.is_set():
        name, body, headers = documents[index % len(documents)]
        index += 1
        # A name no other request of the run uses (``_one_at_a_time`` uses P…).
        unique = body.replace(MARKER.encode(), f"A{number:02d}{index % 100_000:05d}".encode())
        try:
            counts[name, send(conn, unique, headers).label()] += 1
        except (OSError, http.client.HTTPException) as exc:
            counts[name, f"socket error {type(exc).__name__}"] += 1
            conn.close()
            conn = http.client.HTTPConnection(run.HOST, port, timeout=KEYED_TIMEOUT_S)
    conn.close()


def attack(
    port: int,
    documents: list[tuple[str, bytes, dict[str, str]]],
    connections: int,
    stop: Event,
    results: Any,
) -> None:
    """The attacker process: ``connections`` threads, each sending the documents in turn on
    its own keep-alive connection until ``stop``; puts its counts and duration on ``results``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    counts: list[Counter[tuple[str, str]]] = [Counter() for _ in range(connections)]
    threads = [
        threading.Thread(target=_attacker, args=(port, documents, i, stop, counts[i]))
        for i in range(connections)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total: Counter[tuple[str, str]] = Counter()
    for found in counts:
        total.update(found)
    results.put(
        {"seconds": time.perf_counter() - started, "counts": [[*k, v] for k, v in total.items()]}
    )


@dataclass
class Attack:
    """The attacker process for one phase; ``stop`` collects what it counted."""

    process: Any
    stop_event: Event
    results: Any
    collected: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls, port: int, documents: list[Hostile], cred: run.Credential, connections: int
    ) -> Attack:
        context = multiprocessing.get_context("spawn")
        stop, results = context.Event(), context.Queue()
        sent = [(h.name, h.body(), _headers(cred if h.keyed else None)) for h in documents]
        process = context.Process(
            target=attack, args=(port, sent, connections, stop, results), daemon=True
        )
        process.start()
        return cls(process, stop, results)

    def cpu_seconds(self) -> float:
        return run.process_cpu_seconds(self.process.pid) or 0.0

    def stop(self) -> dict[str, Any]:
        if not self.collected and self.process.is_alive():
            self.stop_event.set()
            with suppress(Exception):
                self.collected = self.results.get(timeout=KEYED_TIMEOUT_S + 10)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=10)
        return self.collected


# --------------------------------------------------------------------------------------------
# The measurements


@dataclass
class Run:
    port: int
    server_pid: int
    keyed: KeyedReads
    attacker: run.Credential
    attacks: list[Attack]  # registered before they start: the clean-up stops them

    def cpu(self) -> run.CpuSnapshot | None:
        return run.cpu_snapshot(self.server_pid)


def _one_at_a_time(r: Run, hostile: Hostile, alone_p50: float) -> dict[str, Any]:
    """The document alone, and keyed REST reads one after another from the moment it is
    written until it is answered (the first may be served while the document still awaits
    its key or the limiter; the slowest waited for its parse and validation): ``ROUNDS``
    times, once if the document takes longer than ``LONG_S``. Each round's slowest read
    counts."""
    rest = next(s for s in r.keyed.scenarios if s.method == "GET")
    headers = _headers(r.attacker if hostile.keyed else None)
    answers: list[Answer] = []
    hostile_ms: list[float] = []
    keyed_ms: list[float] = []  # the slowest keyed read of each round
    keyed_reads = 0
    for round_ in range(ROUNDS):
        written = threading.Event()
        body = hostile.body().replace(MARKER.encode(), f"P{round_:07d}".encode())

        def hostile_request(body: bytes = body, written: threading.Event = written) -> None:
            conn = http.client.HTTPConnection(run.HOST, r.port, timeout=KEYED_TIMEOUT_S)
            started = time.perf_counter()
            try:
                conn.request("POST", run.GRAPHQL_PATH, body, headers)
                written.set()
                response = conn.getresponse()
                answers.append(Answer.of(response.status, response.read()))
            except (OSError, http.client.HTTPException) as exc:
                answers.append(Answer(0, f"socket error {type(exc).__name__}", None))
            finally:
                written.set()
                hostile_ms.append((time.perf_counter() - started) * 1000)
                conn.close()

        thread = threading.Thread(target=hostile_request, daemon=True)
        thread.start()
        written.wait(KEYED_TIMEOUT_S)
        during: list[float] = []
        while not during or thread.is_alive():
            ms = r.keyed.one(rest)
            if ms is not None:
                during.append(ms)
            elif not during:
                break  # a wrong answer (recorded): no round to count
        if during:
            keyed_ms.append(max(during))
            keyed_reads += len(during)
        thread.join()
        if hostile_ms[-1] > LONG_S * 1000:
            break
    answer = Counter(a.label() for a in answers).most_common(1)[0][0]
    expected = Answer(*hostile.expect).label()
    typical = statistics.median(keyed_ms) if keyed_ms else None
    delta = None if typical is None else round(typical - alone_p50, 2)
    return {
        "name": hostile.name,
        "kind": hostile.kind,
        "what": hostile.what,
        "keyed": hostile.keyed,
        "query_bytes": len(hostile.query.encode()),
        "expected": expected,
        "answers": dict(Counter(a.label() for a in answers)),
        "answer": answer,
        "as_expected": all(a.label() == expected for a in answers),
        "refused": all(a.refused for a in answers),
        "server_error": any(a.status >= 500 for a in answers),
        "rounds": len(hostile_ms),
        "hostile_ms_median": round(statistics.median(hostile_ms), 2),
        "hostile_ms_max": round(max(hostile_ms), 2),
        "keyed_reads": keyed_reads,
        "keyed_ms_slowest_per_round": [round(m, 2) for m in keyed_ms],
        "keyed_ms_median": None if typical is None else round(typical, 2),
        "keyed_delta_ms": delta,
        "pass": None if delta is None else delta <= TARGET_MS,
    }


def _is_refusal(label: str) -> bool:
    return label.startswith("4") and "(no code)" not in label


def _cpu_usage(
    before: run.CpuSnapshot | None,
    after: run.CpuSnapshot | None,
    attacker_cpu: float,
) -> dict[str, float | None]:
    """``run.cpu_usage``, with the attacker process (ours, not yet waited for) taken out of
    ``other``."""
    usage = run.cpu_usage(before, after)
    if before is None or after is None or usage["other"] is None:
        return {**usage, "attackers": None}
    attackers = round(100 * attacker_cpu / (after.at - before.at), 1)
    return {
        **usage,
        "attackers": attackers,
        "other": round(max(0.0, usage["other"] - attackers), 1),
    }


def _under_attack(r: Run, kind: str, documents: list[Hostile]) -> dict[str, Any]:
    attack_ = Attack.start(r.port, documents, r.attacker, ATTACKERS)
    r.attacks.append(attack_)
    time.sleep(WARMUP_S)
    before, cpu_before = r.cpu(), attack_.cpu_seconds()
    samples = r.keyed.batch(REQUESTS, SECONDS)
    after, cpu_after = r.cpu(), attack_.cpu_seconds()
    found = attack_.stop()
    if not found:
        raise run.BenchError(f"kind {kind}: the attacker process reported nothing")
    counts: Counter[str] = Counter()
    by_document: dict[str, dict[str, int]] = {}
    for name, label, count in found["counts"]:
        counts[label] += count
        by_document.setdefault(name, {})[label] = count
    total = sum(counts.values())
    return {
        "name": f"{kind}: {KINDS[kind]}",
        "kind": kind,
        "documents": [h.name for h in documents],
        "keyed": {key: percentiles(ms) for key, ms in samples.items()},
        "attackers": {
            "connections": ATTACKERS,
            "requests": total,
            "requests_per_s": round(total / found["seconds"], 1) if found["seconds"] else 0.0,
            "statuses": dict(counts.most_common()),
            "by_document": by_document,
            "server_errors": sum(n for label, n in counts.items() if label.startswith("5")),
            "not_refused": sum(n for label, n in counts.items() if not _is_refusal(label)),
            "rate_limited": sum(n for label, n in counts.items() if label.startswith("429")),
        },
        "cpu_pct_of_one_core": _cpu_usage(before, after, cpu_after - cpu_before),
    }


def _verdicts(alone: dict[str, Any], phase: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, stats in phase["keyed"].items():
        base = alone[key]
        p99 = stats["p99_ms"]
        delta = None if p99 is None else round(p99 - base["p99_ms"], 2)
        rows.append(
            {
                "kind": phase["kind"],
                "scenario": key,
                "alone": base,
                "under_attack": stats,
                "delta_p99_ms": delta,
                "pass": None if delta is None else delta <= TARGET_MS,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Reporting


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "-"}[passed]


def print_documents(rows: list[dict[str, Any]], alone_p50: float) -> None:
    print(
        "\nOne document at a time, keyed REST reads back to back while it is in flight (keyed: "
        "the slowest read of a round, median and max over the rounds; +ms: over the usual p50, "
        f"{alone_p50:.1f} ms; target: {TARGET_MS:.0f} ms; doc ms: the document's own time):"
    )
    header = (
        f"{'document':<30} {'key':<3} {'bytes':>7}  {'answer':<47} {'doc ms':>8} "
        f"{'keyed':>8} {'(max)':>8} {'+ms':>8}  verdict"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        flag = "" if row["as_expected"] else f"  (expected {row['expected']})"
        print(
            f"{row['name']:<30} {'yes' if row['keyed'] else 'no':<3} {row['query_bytes']:>7,}  "
            f"{row['answer'][:47]:<47} {_ms(row['hostile_ms_median']):>8} "
            f"{_ms(row['keyed_ms_median']):>8} "
            f"{_ms(max(row['keyed_ms_slowest_per_round'], default=None)):>8} "
            f"{_ms(row['keyed_delta_ms']):>8}  {_verdict(row['pass'])}{flag}"
        )


def print_phases(verdicts: list[dict[str, Any]], phases: list[dict[str, Any]]) -> None:
    print(
        f"\nKeyed reads alone vs under {ATTACKERS} attacker connections (ms; target: p99 "
        f"within {TARGET_MS:.0f} ms of alone):"
    )
    header = (
        f"{'kind / keyed read':<32} {'n':>4} {'p50':>15} {'p95':>15} {'p99':>15} "
        f"{'max':>17} {'+p99':>8} {'attack/s':>9}  verdict"
    )
    print(header)
    print("-" * len(header))
    per_kind = {p["kind"]: p for p in phases}
    for v in verdicts:
        a, u = v["alone"], v["under_attack"]
        cells = [f"{_ms(a[k])} > {_ms(u[k])}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
        print(
            f"{v['kind'] + ' / ' + v['scenario']:<32} {u['n']:>4} {cells[0]:>15} {cells[1]:>15} "
            f"{cells[2]:>15} {cells[3]:>17} {_ms(v['delta_p99_ms']):>8} "
            f"{per_kind[v['kind']]['attackers']['requests_per_s']:>9,.1f}  {_verdict(v['pass'])}"
        )
    print(
        "(n: keyed reads of each kind under attack; with fewer than 100, p99 is the slowest; "
        "+p99: under attack minus alone)"
    )
    print("\nAttackers' answers (all must be 4xx with a problem code):")
    for phase in phases:
        attackers, cpu = phase["attackers"], phase["cpu_pct_of_one_core"]
        print(
            f"  {phase['name']}: {attackers['requests']:,} requests; server CPU "
            f"{_ms(cpu['server'])}%, attackers {_ms(cpu['attackers'])}%, other {_ms(cpu['other'])}%"
        )
        for label, count in attackers["statuses"].items():
            print(f"      {count:>7,}  {label}")


# --------------------------------------------------------------------------------------------
# Main


@contextmanager
def environment(db_name: str, servers: list[run.Server], attacks: list[Attack]) -> Iterator[None]:
    """Whatever happens inside (an error, Ctrl-C, SIGTERM), the attackers and the server are
    stopped and the database dropped; a second Ctrl-C does not cut that short."""
    try:
        yield
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for attack_ in attacks:
            attack_.stop()
        for server in servers:
            server.stop()
        try:
            run.drop_database(db_name)
            log(f"database {db_name} dropped")
        except psycopg.Error as exc:
            print(f"WARNING: could not drop database {db_name}: {exc}", file=sys.stderr)
        signal.signal(signal.SIGINT, previous)


def start_server(url: str, servers: list[run.Server]) -> run.Server:
    """The API as ``make bench`` runs it, with anonymous documents allowed without limit."""
    env = {
        **os.environ,
        "ASTERI_DATABASE_URL": url,
        "ASTERI_ANONYMOUS_DOCUMENTS_PER_MINUTE": str(ANONYMOUS_PER_MINUTE),
    }
    port = run.free_port()
    args = [*run.uvicorn_args("asteri.app:create_app", port, "--factory"), *KEEP_ALIVE]
    server = run.Server("asteri", args, port, env, run.RESULTS / "server-hostile.log")
    servers.append(server)  # registered first: the clean-up stops it
    server.start()
    server.wait_ready(run.GRAPHQL_PATH, {"query": "{ __typename }"})
    return server


def measure(r: Run, documents: list[Hostile]) -> dict[str, Any]:
    """Steps 3 to 5 of the module's description."""
    busy_before = run.other_cpu_users({os.getpid(), r.server_pid})
    for user in busy_before:
        log(
            f"WARNING: machine not idle: {user['command']} (pid {user['pid']}) uses "
            f"{user['cpu_pct']}% of a core; latencies will be high and noisy"
        )
    log(f"keyed reads alone: {REQUESTS} of each, interleaved")
    before = r.cpu()
    first = r.keyed.batch(REQUESTS, None)
    alone_cpu = run.cpu_usage(before, r.cpu())
    rest_p50 = float(percentiles(first["rest_point"])["p50_ms"] or 0.0)

    log(f"each document alone, with a keyed read right after it ({ROUNDS} rounds)")
    one_by_one = [_one_at_a_time(r, h, rest_p50) for h in documents]
    holding = sorted(row["name"] for row in one_by_one if row["hostile_ms_median"] > LONG_S * 1e3)
    phases = []
    for kind in KINDS:
        sent = [h for h in documents if h.kind == kind and h.name not in holding]
        if sent:
            log(f"kind {kind} ({KINDS[kind]}): {ATTACKERS} attackers, keyed reads <= {SECONDS}s")
            phases.append(_under_attack(r, kind, sent))
    log("keyed reads alone again")
    last = r.keyed.batch(REQUESTS, None)
    # Alone is before and after the attacks together: a shared machine drifts meanwhile.
    alone = {key: percentiles(ms + last[key]) for key, ms in first.items()}
    return {
        "busy_before": busy_before,
        "keyed_alone": alone,
        "keyed_alone_first": {key: percentiles(ms) for key, ms in first.items()},
        "keyed_alone_last": {key: percentiles(ms) for key, ms in last.items()},
        "keyed_alone_p50_rest": rest_p50,
        "keyed_alone_cpu_pct_of_one_core": alone_cpu,
        "documents": one_by_one,
        "left_out_of_the_load": holding,
        "phases": phases,
        "verdicts": [v for phase in phases for v in _verdicts(alone, phase)],
    }


def findings(found: dict[str, Any], keyed_failures: list[str]) -> dict[str, Any]:
    """What makes the run invalid, FAIL or worth a warning."""
    phases, documents = found["phases"], found["documents"]
    alone_row = {
        "name": "keyed reads alone",
        "cpu_pct_of_one_core": found["keyed_alone_cpu_pct_of_one_core"],
    }
    server_errors = sum(p["attackers"]["server_errors"] for p in phases)
    server_errors += sum(1 for row in documents if row["server_error"])
    not_refused = [row["name"] for row in documents if not row["refused"]]
    not_refused += [
        f"{name} (under load)"
        for p in phases
        for name, labels in p["attackers"]["by_document"].items()
        if not all(map(_is_refusal, labels))
    ]
    invalid = keyed_failures[:20]
    if server_errors:
        invalid.append(f"{server_errors} attacker requests got a 5xx")
    return {
        "valid": not invalid,
        "invalid_because": invalid,
        "keyed_failures": len(keyed_failures),
        "pass": all(row["pass"] for row in documents)
        and all(v["pass"] for v in found["verdicts"])
        and not not_refused,
        "not_refused": not_refused,
        "attackers_rate_limited": sum(p["attackers"]["rate_limited"] for p in phases),
        "contention": run.contention_warnings(found["busy_before"], [alone_row, *phases]),
    }


def report(found: dict[str, Any], verdict: dict[str, Any], extra: dict[str, Any]) -> int:
    """The JSON file, the tables, the verdict; 1 if the run is invalid."""
    notes = extra["notes"]
    contention = verdict["contention"]
    document = {
        **verdict,
        "target": f"keyed read within {TARGET_MS:.0f} ms of its usual time",
        "contended": bool(contention),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "other_cpu_users_before_load": found.pop("busy_before"),
        },
        **extra,
        **found,
    }
    RESULT.write_text(json.dumps(document, indent=2) + "\n")

    if contention:
        print("\nCONTENDED RUN: other processes used the CPU; latencies are high and noisy.")
    print_documents(found["documents"], found["keyed_alone_p50_rest"])
    print_phases(found["verdicts"], found["phases"])
    lines = [""]
    if found["left_out_of_the_load"]:
        lines.append(
            f"Left out of the load (alone, each holds the server longer than {LONG_S:.0f} s): "
            + ", ".join(found["left_out_of_the_load"])
        )
    if verdict["not_refused"]:
        lines.append(
            "FAIL: not a 4xx refusal with a problem code: " + ", ".join(verdict["not_refused"])
        )
    if verdict["attackers_rate_limited"]:
        lines.append(f"WARNING: {verdict['attackers_rate_limited']} attacker requests got a 429")
    lines.append(
        f"Overall: {'PASS' if verdict['pass'] else 'FAIL'} ({document['target']}); "
        f"{extra['seconds']} s; JSON: {RESULT.relative_to(HERE.parent)}"
    )
    lines += notes
    lines += [f"WARNING: CONTENDED: {w}; rerun when the machine is quiet." for w in contention]
    print("\n".join(lines))
    if verdict["invalid_because"]:
        print("BENCHMARK INVALID: " + "; ".join(verdict["invalid_because"]), file=sys.stderr)
        return 1
    return 0


def benchmark(db_name: str, servers: list[run.Server], attacks: list[Attack]) -> int:
    started = time.perf_counter()
    url = run.create_database(db_name)
    log(f"database {db_name} created; migrating and provisioning")
    victim = run.provision(url)
    attacker = run.provision(url)  # a second organization: the attacker's own key
    bounds = Bounds.read(Settings(database_url=url))
    documents = craft(bounds)
    log(f"{len(documents)} hostile documents crafted from the limits: {bounds}")
    server = start_server(url, servers)
    assert server.process is not None
    ids = run.seed(f"http://{run.HOST}:{server.port}{run.GRAPHQL_PATH}", victim)
    log(f"server on :{server.port}; seeded {len(ids)} customers")
    one = {"asteri": server, "baseline": server, "strawberry-default": server}
    scenarios = [s for s in run.build_scenarios(one, ids) if s.key in KEYED_SCENARIOS]
    for scenario in scenarios:
        run.warm_up_check(scenario, victim)
    keyed = KeyedReads(server.port, scenarios, victim)
    keyed.batch(50, None)  # warm: pools, key cache, compiled reads
    found = measure(Run(server.port, server.process.pid, keyed, attacker, attacks), documents)
    verdict = findings(found, keyed.failures)
    exceptions, notes = run.log_findings(servers)
    config = {
        "attackers": ATTACKERS,
        "keyed_requests_per_scenario": REQUESTS,
        "seconds_per_attacked_phase": SECONDS,
        "rounds_per_document": ROUNDS,
        "server": "uvicorn --workers 1 --log-level warning " + " ".join(KEEP_ALIVE),
        "server_env": {"ASTERI_ANONYMOUS_DOCUMENTS_PER_MINUTE": ANONYMOUS_PER_MINUTE},
        "keys": "victim and attacker (two organizations): all scopes, MAX_LIMIT per minute/day",
        "bounds": asdict(bounds),
    }
    extra = {
        "seconds": round(time.perf_counter() - started, 1),
        "config": config,
        "server_log_exceptions": exceptions,
        "notes": notes,
    }
    return report(found, verdict, extra)


def main() -> int:
    run.RESULTS.mkdir(parents=True, exist_ok=True)
    db_name = f"asteri_hostile_{os.getpid()}_{secrets.token_hex(3)}"
    servers: list[run.Server] = []
    attacks: list[Attack] = []
    try:
        with run.interrupts_unwind(), environment(db_name, servers, attacks):
            return benchmark(db_name, servers, attacks)
    except run.BenchError as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        for server in servers:
            print(f"--- server log (tail) ---\n{server.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted (attackers and server stopped, database dropped)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
