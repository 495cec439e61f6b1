"""The delivery history: every HTTP attempt the worker made to deliver an event to an
endpoint, as the receiver answered it. Read-only (``Log``), ``manage:webhooks``; listed per
endpoint, per event and by outcome, newest first. The worker writes it
(``workers/webhooks.py``)."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.kit.ids import IdPrefix
from asteri.kit.pagination import Page
from asteri.models.webhook import DeliveryAttempt
from asteri.resolvers import crud
from asteri.resolvers.crud import Log, Sort, Stability
from asteri.resolvers.unit import UnitOfWork

__all__ = [
    "WEBHOOK_ATTEMPTS",
    "AttemptStatus",
    "WebhookAttemptFilter",
    "WebhookAttemptOrder",
    "list_attempts",
    "read",
]

WEBHOOK_ATTEMPTS = Log(
    model=DeliveryAttempt,
    name="webhook_attempt",
    prefix=IdPrefix.WEBHOOK_ATTEMPT,
    stability=Stability.AVAILABLE,
)


class AttemptStatus(Enum):
    """How an attempt ended: only a 2xx answer succeeds. Also the GraphQL
    ``WebhookAttemptStatus``."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookAttemptOrder(Enum):
    ATTEMPTED_AT_DESC = Sort("attempted_at_desc", DeliveryAttempt.attempted_at, descending=True)  # type: ignore[arg-type]
    ATTEMPTED_AT_ASC = Sort("attempted_at_asc", DeliveryAttempt.attempted_at, descending=False)  # type: ignore[arg-type]


@dataclass(frozen=True)
class WebhookAttemptFilter:
    """Also the GraphQL ``WebhookAttemptFilter`` (``schema.inputs.filter_input``)."""

    webhook_endpoint_id: str | None = field(
        default=None, metadata={"description": "The attempts to one endpoint (`we_…`)."}
    )
    event_id: str | None = field(
        default=None, metadata={"description": "The attempts to deliver one event (`evt_…`)."}
    )
    status: AttemptStatus | None = field(
        default=None, metadata={"description": "Only the attempts that ended so."}
    )
    attempted_since: datetime | None = field(
        default=None, metadata={"description": "Attempts at or after this time."}
    )
    attempted_before: datetime | None = field(
        default=None, metadata={"description": "Attempts before this time."}
    )


def _where(f: WebhookAttemptFilter) -> list[ColumnElement[bool]]:
    return [
        *crud.equal_to(
            f,
            {
                "webhook_endpoint_id": col(DeliveryAttempt.endpoint_public_id),
                "event_id": col(DeliveryAttempt.event_public_id),
                "status": col(DeliveryAttempt.outcome),
            },
        ),
        *crud.occurred_between(
            col(DeliveryAttempt.attempted_at),
            f.attempted_since,
            f.attempted_before,
            names=("attemptedSince", "attemptedBefore"),
        ),
    ]


async def list_attempts(
    uow: UnitOfWork,
    *,
    filter: WebhookAttemptFilter,
    sort: WebhookAttemptOrder,
    first: int,
    after: str | None,
) -> Page[Any]:
    return await crud.list_page(
        uow, WEBHOOK_ATTEMPTS, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    return await crud.read(uow, WEBHOOK_ATTEMPTS, public_id)
