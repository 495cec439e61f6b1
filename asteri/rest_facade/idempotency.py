"""``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header) on REST POSTs and GraphQL
mutations.

The first response to a (API key, organization, environment, route, key) is stored for 24 h
and replayed byte for byte, with ``Idempotent-Replayed: true``, to every retry:

- claim: a short transaction of its own inserts an ``in_flight`` record and commits, so a
  concurrent duplicate sees it (409) and a reuse with another payload is refused (422);
- run: the mutation only flushes (``context.defer_commit``); the completed record is written
  in the request's own transaction, so the write, its audit entry, its event and the stored
  response commit together or not at all;
- a 4xx is stored too (a retry gets the same answer); a 5xx or an exception releases the claim
  so the client can retry. A claim older than ``LEASE`` (a crashed worker) is taken over;
- a success that carries a secret shown once (a new API key: ``Route.one_time_secret``) is
  never stored: what is stored, and replayed, is a 409 ``secret_not_replayed`` naming what the
  first request created. The key still guarantees a single key, and no secret sits in a table.

One implementation for both surfaces: the REST facade (``routes.py``) claims after its
pre-flight, on the route template (``POST /customers``); the GraphQL endpoint
(``app.GraphQLEndpoint``, ``schema/idempotency.py``) on ``POST /graphql``, for a request
running one mutation. GraphQL refuses a bad document, credential or scope only once the claim
is held, so it names those answers (``released``): released like a 5xx, never stored.
"""

import hashlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import CursorResult, and_, bindparam, delete, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.authz.principal import Principal
from asteri.authz.tenancy import scoped, tenant
from asteri.http.problems import problem_response
from asteri.kit.db import Database, utcnow
from asteri.kit.errors import BadRequest, BadUserInput, Conflict
from asteri.models import IdempotencyRecord, IdempotencyState
from asteri.schema.context import RequestContext

__all__ = [
    "HEADER",
    "KEY_PATTERN",
    "LEASE",
    "REPLAYED_HEADER",
    "RETENTION",
    "first_id",
    "idempotency_key",
    "idempotent",
    "payload_hash",
    "request_hash",
]

log = logging.getLogger("asteri.idempotency")

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)  # documented in the README and the OpenAPI header description
LEASE = timedelta(seconds=60)  # an in-flight claim older than this was abandoned
_CLAIM_ATTEMPTS = 3

_T = IdempotencyRecord


@dataclass(frozen=True, slots=True)
class _Scope:
    principal: Principal
    actor_id: str
    route: str
    key: str

    @property
    def organization_id(self) -> int:
        return self.principal.organization_pk

    @property
    def environment(self) -> str:
        return self.principal.environment.value

    def values(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "environment": self.environment,
            "actor_id": self.actor_id,
            "route": self.route,
            "key": self.key,
        }

    def clause(self) -> list[ColumnElement[bool]]:
        return [
            col(_T.organization_id) == self.organization_id,
            col(_T.environment) == self.environment,
            col(_T.actor_id) == self.actor_id,
            col(_T.route) == self.route,
            col(_T.key) == self.key,
        ]

    def record(self) -> tuple[Any, dict[str, Any]]:
        """The record's read through the tenant filter, and its parameters."""
        return (
            scoped(_T).where(
                col(_T.actor_id) == bindparam("actor_id"),
                col(_T.route) == bindparam("route"),
                col(_T.key) == bindparam("key"),
            ),
            tenant(self.principal, actor_id=self.actor_id, route=self.route, key=self.key),
        )


# What a key must hold besides blanks and quotes: also its OpenAPI parameter's ``pattern``.
KEY_PATTERN = '[^\\s"]'
_MEANINGFUL = re.compile(KEY_PATTERN)


def idempotency_key(request: Request) -> str | None:
    """The request's key, None when absent; a 400 problem when empty, repeated or too long.

    The draft sends the key as a structured-field string (``"8e03978e-…"``); a bare token is
    accepted too, and both spellings name the same key.
    """
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    key = values[0].strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if len(values) > 1 or not _MEANINGFUL.search(key) or len(key) > MAX_KEY_LENGTH:
        raise BadRequest(
            f"`Idempotency-Key` must be one non-empty value of at most {MAX_KEY_LENGTH} "
            "characters.",
            reason="invalid_idempotency_key",
        )
    return key


async def request_hash(request: Request) -> str:
    return payload_hash(request.url.path, await request.body())


def payload_hash(path: str, raw: bytes) -> str:
    """sha256 of the concrete path and the JSON body with sorted keys: the payload identity."""
    try:
        body = orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS) if raw else b""
    except orjson.JSONDecodeError:
        body = raw
    return hashlib.sha256(path.encode() + b"\n" + body).hexdigest()


async def idempotent(
    request: Request,
    context: RequestContext,
    *,
    key: str,
    route: str,
    run: Callable[[], Awaitable[Response]],
    one_time_secret: bool = False,
    released: frozenset[int] = frozenset(),
) -> Response:
    """Run ``run`` at most once per key: replay, refuse (409/422) or run and store.

    ``released``: the statuses of a request refused before it ran, which (like a 5xx) release
    the claim instead of being stored, so that a retry runs once the cause is fixed."""
    database: Database = request.app.state.database
    scope = _scope(context.principal, route, key)
    digest = await request_hash(request)
    claimed = await _claim(database, scope, digest)
    if isinstance(claimed, Response):
        return claimed
    token = claimed
    session = context.session
    context.defer_commit = True
    try:
        response = await run()
        if response.status_code >= 500 or response.status_code in released:
            await session.rollback()
            await _release(database, scope, token)
            return response
        if response.status_code >= 400:
            await session.rollback()  # nothing was written; the 4xx itself is the answer
        kept = _without_secret(request, response) if one_time_secret else response
        stored = await _complete(session, scope, token, kept)
        if stored:
            await session.commit()
    except BaseException:
        await _abandon(session)
        await _release(database, scope, token)
        raise
    if not stored:  # held past the lease and taken over: our write must not land
        await session.rollback()
        raise _in_flight()
    return response


def _scope(principal: Principal, route: str, key: str) -> _Scope:
    return _Scope(principal, principal.actor_id, route, key)


def _in_flight() -> Conflict:
    return Conflict(
        "A request with this `Idempotency-Key` is still being processed; retry later.",
        reason="idempotency_key_in_flight",
    )


def _fresh_claim(digest: str, token: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "request_hash": digest,
        "claim_token": token,
        "state": IdempotencyState.IN_FLIGHT.value,
        "response_status": None,
        "response_content_type": None,
        "response_body": None,
        "created_at": now,
        "expires_at": now + RETENTION,
    }


async def _claim(database: Database, scope: _Scope, digest: str) -> str | Response:
    """A claim token for a fresh (or expired, or abandoned) record, or the replayed response.

    Raises 422 for a key reused with another payload, 409 while the first is in flight.
    """
    insert = pg_insert if database.engine.dialect.name == "postgresql" else sqlite_insert
    for _ in range(_CLAIM_ATTEMPTS):
        token = secrets.token_hex(16)
        claim = _fresh_claim(digest, token)
        now = claim["created_at"]
        async with database.session(tenant(scope.principal)) as session:
            inserted = await session.execute(  # (psycopg reports no rowcount for an INSERT)
                insert(_T)
                .values(**scope.values(), **claim)
                .on_conflict_do_nothing()
                .returning(col(_T.id))
            )
            if inserted.first() is not None:
                await session.commit()
                return token
            # Expired records are replaced; an abandoned claim of the same payload is taken over.
            taken = await session.execute(
                update(_T)
                .where(
                    *scope.clause(),
                    or_(
                        col(_T.expires_at) <= now,
                        and_(
                            col(_T.state) == IdempotencyState.IN_FLIGHT.value,
                            col(_T.created_at) <= now - LEASE,
                            col(_T.request_hash) == digest,
                        ),
                    ),
                )
                .values(**claim)
            )
            if _rowcount(taken) == 1:
                await session.commit()
                return token
            record = (await session.execute(*scope.record())).scalars().first()
            await session.commit()
        if record is None:  # released between our insert and our read: claim again
            continue
        if record.request_hash != digest:
            raise BadUserInput(
                "This `Idempotency-Key` was already used with a different request; "
                "send a new key for a new request.",
                reason="idempotency_key_reused",
            )
        if record.state != IdempotencyState.COMPLETED.value:
            raise _in_flight()
        return _replay(record)
    raise _in_flight()


def _without_secret(request: Request, response: Response) -> Response:
    """What to store for a response that carries a one-time secret: a 4xx as it is (no
    secret in it); a success as the 409 a retry will get, naming what was created."""
    if response.status_code >= 300:
        return response
    created = first_id(orjson.loads(bytes(response.body)))
    refused = Conflict(
        "This request already succeeded, and its response carried a secret that is shown "
        "once and never stored. Find what it created by `resource_id`; rotate it if the "
        "secret was lost.",
        reason="secret_not_replayed",
        resource_id=created,
    )
    return problem_response(request, refused.code, refused.detail, refused.extensions())


def first_id(body: Any) -> str | None:
    """The first ``id`` member, depth first: the object the request created."""
    if isinstance(body, dict):
        if isinstance(body.get("id"), str):
            return str(body["id"])
        for value in body.values():
            if (found := first_id(value)) is not None:
                return found
    return None


def _replay(record: IdempotencyRecord) -> Response:
    assert record.response_status is not None
    return Response(
        record.response_body or b"",
        status_code=record.response_status,
        media_type=record.response_content_type,
        headers={REPLAYED_HEADER: "true"},
    )


async def _complete(session: AsyncSession, scope: _Scope, token: str, response: Response) -> bool:
    """Store the response on our claim, in the request's transaction. False if we lost it."""
    now = utcnow()
    result = await session.execute(
        update(_T)
        .where(
            *scope.clause(),
            col(_T.claim_token) == token,
            col(_T.state) == IdempotencyState.IN_FLIGHT.value,
        )
        .values(
            state=IdempotencyState.COMPLETED.value,
            response_status=response.status_code,
            response_content_type=response.headers.get("content-type"),
            response_body=bytes(response.body),
            expires_at=now + RETENTION,
        )
    )
    return _rowcount(result) == 1


async def _abandon(session: AsyncSession) -> None:
    """Roll the request back before releasing (on SQLite it may hold the write lock)."""
    try:
        await session.rollback()
    except Exception:  # the session may be broken; closing it rolls back anyway
        log.warning("rollback failed after an idempotent request failed", exc_info=True)


async def _release(database: Database, scope: _Scope, token: str) -> None:
    """Delete our in-flight claim so a retry runs again. If this fails, the lease expires."""
    try:
        async with database.session(tenant(scope.principal)) as session:
            await session.execute(
                delete(_T).where(
                    *scope.clause(),
                    col(_T.claim_token) == token,
                    col(_T.state) == IdempotencyState.IN_FLIGHT.value,
                )
            )
            await session.commit()
    except Exception:
        log.warning("could not release an idempotency claim", exc_info=True)


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount
