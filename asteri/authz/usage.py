"""``last_used_at`` without a write per request: at most one UPDATE per key per minute.

Each process remembers when it last wrote a key's ``last_used_at`` (a dict of key id → monotonic
time) and writes again only once ``interval`` has passed, so the column is accurate to a minute
and a busy key costs one small write a minute per process, not one per request. The write is a
single UPDATE in its own short transaction, run after the request's own session has closed (the
tail of ``RequestContext.finish``): it never joins the request's transaction (a rollback
there cannot lose it, and it cannot hold the request's locks; on SQLite the request's read lock is
gone before it writes), and it is visible as soon as the request is finished. A failed write is
logged and dropped: it must never fail the request it follows. Being per process, N processes may
write up to N times a minute per key.
"""

import logging
import time
from collections.abc import Callable

from sqlalchemy import update
from sqlmodel import col

from asteri.authz.principal import Principal
from asteri.authz.tenancy import tenant
from asteri.kit.db import Database, utcnow
from asteri.models import ApiKey

__all__ = ["KeyUsage"]

log = logging.getLogger("asteri.usage")


class KeyUsage:
    def __init__(
        self,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._max_entries = max_entries
        self._written: dict[str, float] = {}

    def due(self, key_id: str) -> bool:
        """True (and noted as written) if ``key_id`` was not written within ``interval``."""
        now = self.clock()
        last = self._written.get(key_id)
        if last is not None and now - last < self.interval:
            return False
        if len(self._written) >= self._max_entries:
            self._written = {k: t for k, t in self._written.items() if now - t < self.interval}
        self._written[key_id] = now
        return True

    async def record(self, database: Database, key: Principal) -> None:
        """Note that ``key`` (an API key's principal) was used, at most once per interval."""
        key_id = key.actor_id
        if not self.due(key_id):
            return
        try:
            async with database.session(tenant(key)) as session:
                await session.execute(
                    update(ApiKey)
                    .where(col(ApiKey.public_id) == key_id)
                    .values(last_used_at=utcnow())
                )
                await session.commit()
        except Exception:
            log.warning("could not record last_used_at for %s", key_id, exc_info=True)
