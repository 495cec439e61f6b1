"""The delivery history in the public schema (``manage:webhooks``)."""

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.resolvers import webhook_attempt as attempts
from asteri.resolvers.webhook_endpoint import Trigger
from asteri.schema.context import RequestContext
from asteri.schema.fields import RootFields, query
from asteri.schema.inputs import described_enum, filter_input
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap

__all__ = ["WebhookAttempt", "WebhookAttemptQueries"]

Ctx = Info[RequestContext, None]

WebhookAttemptStatus = attempts.AttemptStatus
described_enum(
    WebhookAttemptStatus,
    name="WebhookAttemptStatus",
    description="How an attempt ended.",
    values={"SUCCEEDED": "The receiver answered 2xx.", "FAILED": "Anything else, or no answer."},
)
WebhookTrigger = Trigger
described_enum(
    WebhookTrigger,
    name="WebhookTrigger",
    description="What queued the delivery an attempt belongs to.",
    values={
        "EVENT": "The event itself, to a subscribed endpoint.",
        "TEST": "`testWebhookEndpoint` (`POST …/test`).",
        "RESEND": "`resendWebhookEndpoint` (`POST …/resend`).",
        "RECOVER": "`recoverWebhookEndpoint` (`POST …/recover`).",
        "REPLAY": "`replayMissingWebhookEndpoint` (`POST …/replay_missing`).",
    },
)


@strawberry.type(
    description="One HTTP attempt to deliver an event to a webhook endpoint, as its receiver "
    "answered."
)
class WebhookAttempt:
    id: strawberry.ID = strawberry.field(description="`wha_…`.")
    webhook_endpoint_id: strawberry.ID = strawberry.field(description="The endpoint (`we_…`).")
    event_id: strawberry.ID = strawberry.field(description="The event delivered (`evt_…`).")
    event_type: str
    webhook_id: str = strawberry.field(
        description="The `webhook-id` header (`msg_…`): the same on every attempt of one event "
        "to one endpoint, so receivers can drop duplicates."
    )
    attempt_number: int = strawberry.field(
        description="1 for a delivery's first attempt, one more with each retry or resend."
    )
    trigger: WebhookTrigger
    status: WebhookAttemptStatus
    response_status: int | None = strawberry.field(
        description="The receiver's HTTP status; null if it never answered."
    )
    duration_ms: int = strawberry.field(description="From connecting to the answer's end.")
    response_excerpt: str | None = strawberry.field(
        description="The start of the answer's body (at most 1,000 characters, control "
        "characters escaped)."
    )
    error: str | None = strawberry.field(
        description="Why there was no answer: refused target, timeout, connection error."
    )
    attempted_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> "WebhookAttempt":
        return WEBHOOK_ATTEMPT_ROWS.build(row)


WEBHOOK_ATTEMPT_ROWS = RowMap(
    WebhookAttempt,
    id="public_id",
    webhook_endpoint_id="endpoint_public_id",
    event_id="event_public_id",
    webhook_id="message_id",
    attempt_number="number",
    trigger=lambda row: Trigger(row.trigger),
    status=lambda row: WebhookAttemptStatus(row.outcome),
)

WebhookAttemptOrder = attempts.WebhookAttemptOrder
strawberry.enum(WebhookAttemptOrder, description="Orderings for the delivery history.")

WebhookAttemptFilter = attempts.WebhookAttemptFilter
filter_input(WebhookAttemptFilter, description="Narrow the delivery history.")


@strawberry.type
class WebhookAttemptQueries:
    @query(
        Scope.MANAGE_WEBHOOKS,
        description="A delivery attempt by id; null with NOT_FOUND if absent.",
    )
    async def webhook_attempt(self, info: Ctx, id: strawberry.ID) -> WebhookAttempt | None:
        return WebhookAttempt.from_row(await attempts.read(info.context.uow, str(id)))

    @query(
        Scope.MANAGE_WEBHOOKS,
        description="The delivery history: every attempt, newest first unless `orderBy` says. "
        "Filter by endpoint, by event, by status.",
    )
    async def webhook_attempts(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: WebhookAttemptFilter | None = None,
        order_by: WebhookAttemptOrder = WebhookAttemptOrder.ATTEMPTED_AT_DESC,
    ) -> Connection[WebhookAttempt]:
        page = await attempts.list_attempts(
            info.context.uow,
            filter=filter or WebhookAttemptFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, WebhookAttempt.from_row)


ROOT_FIELDS = RootFields(queries=(WebhookAttemptQueries,))
