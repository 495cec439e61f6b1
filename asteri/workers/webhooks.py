"""The webhook worker: events out of the outbox, signed POSTs to endpoints, every attempt
recorded, retries on the Standard Webhooks schedule.

The ``events`` table is the outbox: a write stores its event in its own transaction, and only
this worker reads it afterwards, so no request ever writes "to the database and to a queue".
Each pass:

1. **Fan-out.** Events not yet fanned out (``fanned_out_at`` null), oldest first, locked with
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (another worker takes the next ones; SQLite runs
   one writer at a time): one ``webhook_deliveries`` row for each enabled endpoint of the
   event's tenant that subscribes to its type, and the event marked done, in one transaction.
   The (endpoint, event) unique constraint is the backstop: nothing is fanned out twice.
2. **Claim.** Due deliveries (pending or retrying, ``next_attempt_at`` passed, no live lease,
   endpoint enabled), at most as many as there are free attempt slots, are leased in one
   ``WITH due AS MATERIALIZED (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) UPDATE … WHERE id IN
   (SELECT id FROM due) RETURNING``: a random token and ``leased_until``. Two workers never
   hold one delivery at once; a killed worker's lease runs out and another claims it (at
   least once).
3. **Attempt.** Each claimed delivery is POSTed, concurrently up to ``concurrency`` (on one
   keep-alive pool of as many connections, ``webhooks/transport.py``): the SSRF guard pins
   the resolved address (``webhooks/targets.py``), no redirect is followed, the timeout is
   15 s, at most ``read_cap`` bytes of the answer are read.
4. **Record.** The attempt row, and the delivery's next state, written only while the lease
   is still this worker's (a resend or recover may have re-queued it meanwhile; then the
   attempt is recorded and the new run is left alone).

Only a 2xx succeeds. A failure is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
(plus up to 10 % jitter, never earlier), or after ``Retry-After`` on a 429 or 503 if that is
longer; then it has failed. A 410 fails the delivery and disables the endpoint; so does 3 days
of nothing but failures. Either records ``webhook_endpoint.disabled``, by the system.

The clock is injected (``clock``): the schedule, leases and rotation overlaps all read it, so
tests run three days of retries in seconds. The signature's ``webhook-timestamp`` is the wall
clock, which is what receivers compare it with.

The worker reads across tenants on purpose, as the operator's CLI does: it connects as the
database URL's own user, not through the request path's tenant guard.
"""

import asyncio
import logging
import random
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2 as httpx
import orjson
from sqlalchemy import Integer, bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from asteri.kit.db import UtcDateTime, utcnow
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.kit.settings import Settings
from asteri.models import Event, Organization
from asteri.models.webhook import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from asteri.resolvers.audit import record_system_change
from asteri.resolvers.event import data_of
from asteri.resolvers.webhook_endpoint import (
    WEBHOOK_ENDPOINTS,
    DeliveryStatus,
    DisabledReason,
    Trigger,
    active_secrets,
)
from asteri.schema.webhook_endpoint import snapshot as endpoint_snapshot
from asteri.webhooks.ids import message_id
from asteri.webhooks.secrets import SecretBox
from asteri.webhooks.signing import signature_headers
from asteri.webhooks.subscriptions import matches
from asteri.webhooks.targets import TargetRefused, pin_target
from asteri.webhooks.transport import WebhookTransport

__all__ = ["SCHEDULE", "DeliveryPolicy", "Outcome", "WebhookWorker", "excerpt", "retry_delay"]

log = logging.getLogger("asteri.webhooks")

SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
SYSTEM_ACTOR = "webhooks"  # the audit trail's actor of what the worker decides itself
USER_AGENT = "Asteri-Webhooks/1"

_D = WebhookDelivery.__table__.c  # type: ignore[attr-defined]
_E = Event.__table__.c  # type: ignore[attr-defined]
_W = WebhookEndpoint.__table__.c  # type: ignore[attr-defined]
_O = Organization.__table__.c  # type: ignore[attr-defined]
_OPEN = (DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How deliveries are made; the defaults are the contract, tests shorten the waits."""

    schedule: tuple[timedelta, ...] = SCHEDULE
    timeout: float = 15.0  # seconds, for the whole attempt
    lease: timedelta = timedelta(seconds=60)  # longer than any attempt can take
    disable_after: timedelta = timedelta(days=3)
    jitter: float = 0.1  # each wait is lengthened by up to this fraction
    read_cap: int = 64 * 1024  # bytes of a receiver's answer read at most
    excerpt_chars: int = 1_000  # of those, kept in the history
    batch: int = 200  # events fanned out, deliveries claimed, per pass
    concurrency: int = 64  # attempts in flight at once

    @classmethod
    def from_settings(cls, settings: Settings) -> "DeliveryPolicy":
        timeout = settings.webhook_timeout_seconds
        return cls(timeout=timeout, lease=timedelta(seconds=4 * timeout))


def retry_delay(policy: DeliveryPolicy, failures: int, rng: random.Random) -> timedelta | None:
    """The wait after the ``failures``-th failed attempt of a run (1 after the first), or
    None once the schedule is spent."""
    if failures > len(policy.schedule):
        return None
    base = policy.schedule[failures - 1]
    return base * (1 + rng.uniform(0, policy.jitter))


def retry_after(value: str | None, now: datetime, cap: timedelta) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date (RFC 9110 §10.2.3), at most ``cap``."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        wait = timedelta(seconds=int(value[:9]))
    else:
        try:
            wait = parsedate_to_datetime(value) - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(wait, timedelta(0)), cap)


def excerpt(raw: bytes, limit: int) -> str:
    """The start of an answer as safe text: invalid UTF-8 replaced, control characters written
    as escapes (``\\n``, ``\\x1b``), at most ``limit`` characters."""
    text = raw.decode("utf-8", errors="replace")
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return shown[:limit]


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status (None if no answer came) and what went wrong."""

    status: int | None
    duration_ms: int
    body: bytes = b""
    error: str | None = None
    retry_after: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Claim:
    """A leased delivery, with what its attempt needs."""

    row: Any
    token: str


class WebhookWorker:
    """One worker process's delivery loop; several may run against one database."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        policy: DeliveryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.policy = policy or DeliveryPolicy.from_settings(settings)
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        self.box = SecretBox.from_settings(settings)
        self._message_key = settings.key_pepper.get_secret_value().encode()
        self._client = httpx.AsyncClient(
            timeout=self.policy.timeout,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the guard pins the address
            transport=WebhookTransport(httpx.Limits(max_connections=self.policy.concurrency)),
        )
        self._slots = asyncio.Semaphore(self.policy.concurrency)

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- the loop ----------------------------------------------------------------------

    async def tick(self) -> int:
        """One pass, run to its end (the tests' step): fan out, claim what is due, attempt it
        all. How many attempts it made."""
        await self._fan_out_all()
        claims = await self.claim()
        outcomes = await asyncio.gather(*(self._attempt(c) for c in claims))
        if claims:
            await self.record_all(list(zip(claims, outcomes, strict=True)))
        return len(claims)

    async def run(self, stop: asyncio.Event, *, idle: float = 0.05) -> None:
        """Until ``stop`` is set: fan out, and claim as many due deliveries as there are free
        attempt slots, each attempt its own task, so a slow receiver holds one slot, not the
        pass. Sleeps up to ``idle`` seconds when nothing was claimed (a new event waits at
        most that long after its commit). The attempts that finished since the last pass are
        recorded together, in one transaction. On stop, the attempts in flight finish."""
        in_flight: set[asyncio.Task[None]] = set()
        done: list[tuple[Claim, Outcome]] = []
        stopping = asyncio.create_task(stop.wait())

        async def attempt(claim: Claim) -> None:
            done.append((claim, await self._attempt(claim)))

        while not stop.is_set() or in_flight or done:
            claims: list[Claim] = []
            try:
                if done:
                    finished, done[:] = list(done), []
                    await self._record_or_leave(finished)
                if stop.is_set():
                    await asyncio.wait(in_flight or {stopping}, timeout=idle)
                    continue
                await self._fan_out_all()
                free = self.policy.concurrency - len(in_flight)
                if free > 0:
                    claims = await self.claim(limit=free)
            except (DBAPIError, OSError) as exc:  # the database went away: try again
                log.warning("webhook pass failed: %s", type(exc).__name__)
            for claim in claims:
                task = asyncio.create_task(attempt(claim))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if not claims and not done:
                await asyncio.wait(
                    {stopping, *in_flight}, timeout=idle, return_when=asyncio.FIRST_COMPLETED
                )
        stopping.cancel()

    async def _fan_out_all(self) -> None:
        while await self.fan_out() == self.policy.batch:
            pass

    # --- 1. fan-out --------------------------------------------------------------------

    async def fan_out(self) -> int:
        """Deliveries for the oldest events not yet fanned out; how many events it took."""
        now = self.clock()
        try:
            async with self.engine.begin() as conn:
                events = (
                    await conn.execute(
                        select(_E.id, _E.organization_id, _E.environment, _E.type)
                        .where(_E.fanned_out_at.is_(None))
                        .order_by(_E.id)
                        .limit(self.policy.batch)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                if not events:
                    return 0
                endpoints = (
                    await conn.execute(
                        select(_W.id, _W.organization_id, _W.environment, _W.event_types).where(
                            _W.organization_id.in_({e.organization_id for e in events}),
                            _W.enabled.is_(True),
                            _W.deleted_at.is_(None),
                        )
                    )
                ).all()
                by_tenant: dict[tuple[int, str], list[Any]] = defaultdict(list)
                for endpoint in endpoints:
                    by_tenant[(endpoint.organization_id, endpoint.environment)].append(endpoint)
                rows = [
                    _new_delivery(e.organization_id, e.environment, w.id, e.id, now)
                    for e in events
                    for w in by_tenant[(e.organization_id, e.environment)]
                    if matches(e.type, w.event_types)
                ]
                if rows:
                    await conn.execute(insert(WebhookDelivery), rows)
                await conn.execute(
                    update(Event).where(_E.id.in_([e.id for e in events])).values(fanned_out_at=now)
                )
        except IntegrityError:  # another worker fanned these out first (SQLite)
            return 0
        return len(events)

    # --- 2. claim ----------------------------------------------------------------------

    async def claim(self, limit: int | None = None) -> list[Claim]:
        """Lease the due deliveries (at most ``limit``, by default ``batch``) to this pass."""
        now = self.clock()
        token = secrets.token_hex(16)
        lease_free = or_(_D.leased_until.is_(None), _D.leased_until < now)
        due = (
            select(_D.id)
            .join(WebhookEndpoint, _W.id == _D.endpoint_id)
            .where(
                _D.status.in_(_OPEN),
                _D.next_attempt_at <= now,
                lease_free,
                _W.enabled.is_(True),
                _W.deleted_at.is_(None),
            )
            .order_by(_D.next_attempt_at)
            .limit(min(limit or self.policy.batch, self.policy.batch))
            .with_for_update(of=WebhookDelivery.__table__, skip_locked=True)  # type: ignore[attr-defined]
            .cte("due")
            # Run once: as an IN subquery, PostgreSQL may plan a semi-join that rescans the
            # locking subquery for every outer row and so leases every due delivery.
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        async with self.engine.begin() as conn:
            claimed = (
                await conn.execute(
                    update(WebhookDelivery)
                    .where(_D.id.in_(select(due.c.id)), _D.status.in_(_OPEN), lease_free)
                    .values(lease_token=token, leased_until=now + self.policy.lease)
                    .returning(_D.id)
                )
            ).all()
            if not claimed:
                return []
            rows = (await conn.execute(_claim_details([r.id for r in claimed]))).all()
        return [Claim(row, token) for row in rows]

    # --- 3. attempt --------------------------------------------------------------------

    def body_of(self, row: Any) -> bytes:
        """The payload (version 1): the same bytes on every attempt of one event."""
        return orjson.dumps(
            {
                "type": row.event_type,
                "timestamp": row.occurred_at.isoformat().replace("+00:00", "Z"),
                "data": data_of(row.payload),
            }
        )

    async def _attempt(self, claim: Claim) -> Outcome:
        async with self._slots:
            return await self.attempt(claim.row)

    async def _record_or_leave(self, done: list[tuple[Claim, Outcome]]) -> None:
        """Attempts that cannot be recorded (the database went away) are left to their
        leases: when those run out, another pass attempts them again (at least once)."""
        try:
            await self.record_all(done)
        except (DBAPIError, OSError) as exc:
            log.warning("%d webhook attempts not recorded: %s", len(done), type(exc).__name__)

    async def attempt(self, row: Any) -> Outcome:
        body = self.body_of(row)
        msg_id = message_id(row.event_public_id, row.endpoint_public_id, key=self._message_key)
        signing = active_secrets(row, self.box, self.clock())
        started = time.perf_counter()

        def spent() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            target = await pin_target(row.url, self.settings)
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "host": target.host_header,
                **signature_headers(msg_id, body, signing),
            }
            async with self._client.stream(
                "POST", target.url, content=body, headers=headers, extensions=target.extensions
            ) as response:
                read = bytearray()
                async for chunk in response.aiter_raw():
                    read += chunk
                    if len(read) >= self.policy.read_cap:
                        break
                status = response.status_code
                error = None
                if 300 <= status < 400:
                    location = response.headers.get("location", "")
                    error = f"redirect not followed (Location: {location})"[:500]
                return Outcome(
                    status,
                    spent(),
                    bytes(read[: self.policy.read_cap]),
                    error,
                    response.headers.get("retry-after"),
                )
        except TargetRefused as exc:
            return Outcome(None, spent(), error=f"refused: {exc}"[:500])
        except httpx.TimeoutException:
            return Outcome(None, spent(), error=f"timed out after {self.policy.timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(None, spent(), error=f"{type(exc).__name__}: {exc}"[:500])

    # --- 4. record ---------------------------------------------------------------------

    async def record(self, claim: Claim, outcome: Outcome) -> None:
        await self.record_all([(claim, outcome)])

    async def record_all(self, done: list[tuple[Claim, Outcome]]) -> None:
        """Each attempt and its delivery's next state, all in one transaction and a few
        statements for the whole batch (the commit and the round trips are most of the cost);
        then, for each failure, its endpoint's failure clock and whether to disable it."""
        if not done:
            return
        now = self.clock()
        in_order = sorted(done, key=lambda d: (d[0].row.endpoint_id, d[0].row.id))
        attempts = [_attempt(c.row, o, now, self) for c, o in in_order]
        states = [self._next_state(c, o, now) for c, o in in_order]
        succeeded = sorted({c.row.endpoint_id for c, o in in_order if o.succeeded})
        async with self.engine.begin() as conn:  # rows locked in one order: no deadlock
            await conn.execute(insert(DeliveryAttempt), attempts)
            await conn.execute(_NEXT_STATE, states)
            if succeeded:
                await conn.execute(
                    update(WebhookEndpoint)
                    .where(_W.id.in_(succeeded), _W.failing_since.is_not(None))
                    .values(failing_since=None)
                )
            for claim, outcome in in_order:
                if not outcome.succeeded:
                    await self._failed(conn, claim.row, outcome, now)

    def _next_state(self, claim: Claim, outcome: Outcome, now: datetime) -> dict[str, Any]:
        """The delivery's columns after this attempt (the parameters of ``_NEXT_STATE``)."""
        row = claim.row
        failures = row.step + 1
        status, next_at = DeliveryStatus.FAILED.value, None
        if outcome.succeeded:
            status = DeliveryStatus.SUCCEEDED.value
        elif outcome.status != 410:
            wait = retry_delay(self.policy, failures, self.rng)
            if wait is not None and outcome.status in (429, 503):
                asked = retry_after(outcome.retry_after, now, self.policy.schedule[-1])
                wait = max(wait, asked) if asked is not None else wait
            if wait is not None:
                status, next_at = DeliveryStatus.RETRYING.value, now + wait
        return {
            "b_id": row.id,
            "b_token": claim.token,
            "b_status": status,
            "b_next": next_at,
            "b_step": failures,
            "b_now": now,
            "b_response": outcome.status,
        }

    async def _failed(
        self, conn: AsyncConnection, row: Any, outcome: Outcome, now: datetime
    ) -> None:
        await conn.execute(
            update(WebhookEndpoint)
            .where(_W.id == row.endpoint_id, _W.failing_since.is_(None))
            .values(failing_since=now)
        )
        if outcome.status == 410:
            await self._disable(conn, row, DisabledReason.GONE, now)
        elif now - (row.failing_since or now) >= self.policy.disable_after:
            await self._disable(conn, row, DisabledReason.FAILING, now)

    async def _disable(
        self, conn: AsyncConnection, row: Any, reason: DisabledReason, now: datetime
    ) -> None:
        """Disable the endpoint (once: a disabled one is left as it is) and record
        ``webhook_endpoint.disabled`` by the system, in this transaction."""
        disabled = await conn.execute(
            update(WebhookEndpoint)
            .where(_W.id == row.endpoint_id, _W.enabled.is_(True))
            .values(
                enabled=False,
                disabled_reason=reason.value,
                version=_W.version + 1,
                updated_at=now,
            )
            .returning(*_W)
        )
        endpoint = disabled.first()
        if endpoint is None:
            return
        await record_system_change(
            conn,
            row,
            actor=SYSTEM_ACTOR,
            resource_type=WEBHOOK_ENDPOINTS.name,
            verb="disabled",
            resource_id=endpoint.public_id,
            changed_fields=["disabled_reason", "enabled"],
            payload=endpoint_snapshot(endpoint),
        )
        log.info("webhook endpoint %s disabled: %s", endpoint.public_id, reason.value)


# A delivery's state after an attempt, only while the lease is still the attempt's (a resend
# or recover may have started a new run meanwhile; that run is left alone).
_NEXT_STATE = (
    update(WebhookDelivery)
    .where(_D.id == bindparam("b_id"), _D.lease_token == bindparam("b_token"))
    .values(
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next", type_=UtcDateTime),
        step=bindparam("b_step"),
        attempts=_D.attempts + 1,
        lease_token=None,
        leased_until=None,
        last_attempt_at=bindparam("b_now", type_=UtcDateTime),
        last_response_status=bindparam("b_response", type_=Integer),
        updated_at=bindparam("b_now", type_=UtcDateTime),
    )
)


def _new_delivery(
    organization_id: int, environment: str, endpoint_id: int, event_id: int, now: datetime
) -> dict[str, Any]:
    return {
        "public_id": new_public_id(IdPrefix.WEBHOOK_DELIVERY),
        "organization_id": organization_id,
        "environment": environment,
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "status": DeliveryStatus.PENDING.value,
        "trigger": Trigger.EVENT.value,
        "attempts": 0,
        "step": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _claim_details(ids: Sequence[int]) -> Any:
    return (
        select(
            _D.id,
            _D.organization_id,
            _D.environment,
            _D.endpoint_id,
            _D.attempts,
            _D.step,
            _D.trigger,
            _E.public_id.label("event_public_id"),
            _E.type.label("event_type"),
            _E.payload,
            _E.occurred_at,
            _W.public_id.label("endpoint_public_id"),
            _W.url,
            _W.secret_ciphertext,
            _W.previous_secret_ciphertext,
            _W.previous_secret_expires_at,
            _W.failing_since,
            _O.public_id.label("organization_public_id"),
        )
        .join(Event, _E.id == _D.event_id)
        .join(WebhookEndpoint, _W.id == _D.endpoint_id)
        .join(Organization, _O.id == _D.organization_id)
        .where(_D.id.in_(ids))
    )


def _attempt(row: Any, outcome: Outcome, now: datetime, worker: WebhookWorker) -> dict[str, Any]:
    policy = worker.policy
    return {
        "public_id": new_public_id(IdPrefix.WEBHOOK_ATTEMPT),
        "organization_id": row.organization_id,
        "environment": row.environment,
        "delivery_id": row.id,
        "endpoint_public_id": row.endpoint_public_id,
        "event_public_id": row.event_public_id,
        "event_type": row.event_type,
        "message_id": message_id(
            row.event_public_id, row.endpoint_public_id, key=worker._message_key
        ),
        "number": row.attempts + 1,
        "trigger": row.trigger,
        "outcome": "succeeded" if outcome.succeeded else "failed",
        "response_status": outcome.status,
        "duration_ms": outcome.duration_ms,
        "response_excerpt": excerpt(outcome.body, policy.excerpt_chars) if outcome.body else None,
        "error": outcome.error,
        "attempted_at": now,
        "created_at": now,
    }
