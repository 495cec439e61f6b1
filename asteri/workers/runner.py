"""The background runner: the webhook worker's loop, and the periodic chores beside it, in one
process (``asteri worker``; several may run) or inside ``asteri serve`` on the embedded
default. Chores are safe to run from every runner at once: each is idempotent (a row a chore
changes is changed once, whichever runner gets to it first)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from asteri.kit.db import create_operator_engine, utcnow
from asteri.kit.settings import Settings
from asteri.resolvers.estimate import expire_overdue
from asteri.resolvers.invoice import mark_overdue
from asteri.schema.estimate import snapshot as estimate_snapshot
from asteri.schema.invoice import snapshot as invoice_snapshot
from asteri.workers.purges import expired_idempotency_records
from asteri.workers.webhooks import DeliveryPolicy, WebhookWorker

__all__ = ["BackgroundRunner", "Chore"]

log = logging.getLogger("asteri.runner")


@dataclass(frozen=True)
class Chore:
    name: str
    every: timedelta
    run: Callable[[AsyncEngine], Awaitable[int]]


async def _purge_idempotency(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        return int((await conn.execute(expired_idempotency_records())).rowcount)


async def _expire_estimates(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        return await expire_overdue(conn, estimate_snapshot, now=utcnow())


async def _overdue_invoices(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        return await mark_overdue(conn, invoice_snapshot, now=utcnow())


CHORES = (
    Chore("idempotency purge", timedelta(minutes=10), _purge_idempotency),
    Chore("estimate expiry", timedelta(minutes=10), _expire_estimates),
    Chore("invoice overdue", timedelta(minutes=10), _overdue_invoices),
)


class BackgroundRunner:
    """Runs until ``stop`` is set; ``start``/``close`` for an app's lifespan."""

    def __init__(self, settings: Settings, *, policy: DeliveryPolicy | None = None) -> None:
        self.engine = create_operator_engine(settings.database_url)
        self.webhooks = WebhookWorker(self.engine, settings, policy=policy)
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _chore(self, chore: Chore) -> None:
        while not self.stop.is_set():
            try:
                done = await chore.run(self.engine)
                if done:
                    log.info("%s: %d rows", chore.name, done)
            except (DBAPIError, OSError) as exc:
                log.warning("%s failed: %s", chore.name, type(exc).__name__)
            try:
                await asyncio.wait_for(self.stop.wait(), chore.every.total_seconds())
            except TimeoutError:
                pass

    async def run(self) -> None:
        await asyncio.gather(self.webhooks.run(self.stop), *(self._chore(c) for c in CHORES))

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.run()))

    async def close(self) -> None:
        self.stop.set()
        for task in self._tasks:
            await task
        await self.webhooks.aclose()
        await self.engine.dispose()
