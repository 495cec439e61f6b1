"""Periodic purges: rows whose retention has passed (run from cron or a scheduler)."""

from sqlalchemy import Engine, delete
from sqlmodel import col

from asteri.kit.db import utcnow
from asteri.models import IdempotencyRecord

__all__ = ["purge_idempotency_records"]


def purge_idempotency_records(engine: Engine) -> int:
    """Delete every stored Idempotency-Key response past ``expires_at`` (24 h); how many.
    An operator's task across tenants (``asteri idempotency purge``), on the operator engine."""
    with engine.begin() as connection:
        result = connection.execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= utcnow())
        )
        return result.rowcount
