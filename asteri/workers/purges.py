"""Periodic purges: rows whose retention has passed. The background runner runs them on its
own schedule (``workers/runner.py``); ``asteri idempotency purge`` runs one by hand."""

from sqlalchemy import Delete, Engine, delete
from sqlmodel import col

from asteri.kit.db import utcnow
from asteri.models import IdempotencyRecord

__all__ = ["expired_idempotency_records", "purge_idempotency_records"]


def expired_idempotency_records() -> Delete:
    """Every stored Idempotency-Key response past ``expires_at`` (24 h), across tenants: an
    operator's task, on the operator engine."""
    return delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= utcnow())


def purge_idempotency_records(engine: Engine) -> int:
    """Delete them now; how many."""
    with engine.begin() as connection:
        return connection.execute(expired_idempotency_records()).rowcount
