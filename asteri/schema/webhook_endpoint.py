"""Webhook endpoints in the public schema (``manage:webhooks``).

An endpoint's secret appears in exactly two answers, ``createWebhookEndpoint`` and
``rotateSecretWebhookEndpoint``; no type can carry it otherwise, so no read, audit entry or
event holds it.
"""

from datetime import datetime
from functools import cache
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from asteri.authz.scopes import Scope
from asteri.kit.db import utcnow
from asteri.resolvers import webhook_endpoint as endpoints
from asteri.schema.context import RequestContext
from asteri.schema.events import event_types
from asteri.schema.fields import RootFields, mutation, query, version_field
from asteri.schema.inputs import DeletedObject, described_enum, filter_input, sent_values
from asteri.schema.pagination import Connection, page_size
from asteri.schema.rowmap import RowMap
from asteri.schema.snapshot import snapshot_of

__all__ = ["WebhookEndpoint", "WebhookEndpointMutations", "WebhookEndpointQueries"]

Ctx = Info[RequestContext, None]
_MANAGE = Scope.MANAGE_WEBHOOKS

WebhookDisabledReason = endpoints.DisabledReason
described_enum(
    WebhookDisabledReason,
    name="WebhookDisabledReason",
    description="Why an endpoint receives nothing.",
    values={
        "MANUAL": "A caller set `enabled: false`.",
        "GONE": "Its receiver answered 410 Gone.",
        "FAILING": "Every attempt to it failed for 3 days.",
    },
)


@strawberry.type(
    description="Where the organization's events are delivered, signed (Standard Webhooks). "
    "Never its secret."
)
class WebhookEndpoint:
    id: strawberry.ID
    url: str = strawberry.field(description="Receives each event as a signed POST.")
    description: str | None
    event_types: list[str] = strawberry.field(
        description="The event types it receives: exact names (`appointment.completed`) or a "
        "resource's every event (`customer.*`)."
    )
    enabled: bool = strawberry.field(description="A disabled endpoint is sent nothing.")
    disabled_reason: WebhookDisabledReason | None = strawberry.field(
        description="Why it is disabled; null while enabled."
    )
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="During a secret rotation's overlap: when the previous secret stops "
        "signing. Null otherwise."
    )
    created_at: datetime
    updated_at: datetime
    version: int = version_field()

    @classmethod
    def from_row(cls, row: Any) -> "WebhookEndpoint":
        return WEBHOOK_ENDPOINT_ROWS.build(row)


def _overlap_end(row: Any) -> datetime | None:
    expires = row.previous_secret_expires_at
    return expires if expires is not None and expires > utcnow() else None


WEBHOOK_ENDPOINT_ROWS = RowMap(
    WebhookEndpoint,
    id="public_id",
    disabled_reason=lambda row: (
        WebhookDisabledReason(row.disabled_reason) if row.disabled_reason else None
    ),
    previous_secret_expires_at=_overlap_end,
)
snapshot = snapshot_of(WebhookEndpoint.from_row)

WebhookEndpointOrder = endpoints.WebhookEndpointOrder
strawberry.enum(WebhookEndpointOrder, description="Orderings for webhook endpoint lists.")

WebhookEndpointFilter = endpoints.WebhookEndpointFilter
filter_input(WebhookEndpointFilter, description="Narrow a webhook endpoint list.")


@strawberry.type(description="A new endpoint, and its signing secret: shown in this answer only.")
class NewWebhookEndpoint:
    webhook_endpoint: WebhookEndpoint
    secret: str = strawberry.field(
        description="`whsec_…`: verifies the `webhook-signature` of every delivery. Shown "
        "once, never again: store it now."
    )


@strawberry.type(description="An endpoint's new signing secret (shown once).")
class RotatedWebhookSecret:
    webhook_endpoint: WebhookEndpoint
    secret: str = strawberry.field(
        description="The new `whsec_…`, signing from now. Shown once, never again."
    )
    previous_secret_valid_until: datetime | None = strawberry.field(
        description="The previous secret signs beside it until then; null: it stopped now."
    )


@strawberry.type(description="Deliveries an operation queued for an endpoint.")
class QueuedDeliveries:
    webhook_endpoint: WebhookEndpoint
    queued: int = strawberry.field(description="How many deliveries it queued.")
    more: bool = strawberry.field(
        description="`replayMissing` only: more events are missing; call it again."
    )


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="https URL of the receiver. A public address: loopback, private, "
        "link-local and metadata addresses are refused."
    )
    description: str | None = UNSET
    event_types: list[str] = strawberry.field(
        description="Exact event types (`GET /event_types`) or `<resource>.*`."
    )
    enabled: bool = True


@strawberry.input(description="Changes to an endpoint: absent fields are untouched.")
class UpdateWebhookEndpointInput:
    url: str | None = UNSET
    description: str | None = UNSET
    event_types: list[str] | None = UNSET
    enabled: bool | None = strawberry.field(
        default=UNSET,
        description="Enabling clears `disabledReason`; deliveries still pending resume.",
    )


_DEFAULT_OVERLAP = int(endpoints.DEFAULT_OVERLAP.total_seconds())


@strawberry.input(description="How to rotate an endpoint's secret.")
class RotateSecretWebhookEndpointInput:
    overlap_seconds: int = strawberry.field(
        default=_DEFAULT_OVERLAP,
        description="How long the previous secret keeps signing beside the new one: 0 (stops "
        f"at once) to {int(endpoints.MAX_OVERLAP.total_seconds())}; default {_DEFAULT_OVERLAP}.",
    )


@strawberry.input(description="The event to send again.")
class ResendWebhookEndpointInput:
    event_id: strawberry.ID = strawberry.field(
        description="An event of the organization (`evt_…`), sent whatever its type."
    )


@strawberry.input(description="A window: events at or after `since`.")
class RecoverWebhookEndpointInput:
    since: datetime


@strawberry.input(description="A window: events at or after `since`.")
class ReplayMissingWebhookEndpointInput:
    since: datetime


@cache
def _catalogue() -> frozenset[str]:
    return frozenset(kind.name for kind in event_types())


@strawberry.type
class WebhookEndpointQueries:
    @query(_MANAGE, description="A webhook endpoint by id; null with NOT_FOUND if absent.")
    async def webhook_endpoint(self, info: Ctx, id: strawberry.ID) -> WebhookEndpoint | None:
        return WebhookEndpoint.from_row(await endpoints.read(info.context.uow, str(id)))

    @query(_MANAGE, description="The webhook endpoints, newest first unless `orderBy` says.")
    async def webhook_endpoints(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        filter: WebhookEndpointFilter | None = None,
        order_by: WebhookEndpointOrder = WebhookEndpointOrder.CREATED_AT_DESC,
    ) -> Connection[WebhookEndpoint]:
        page = await endpoints.list_endpoints(
            info.context.uow,
            filter=filter or WebhookEndpointFilter(),
            sort=order_by,
            first=page_size(first),
            after=after,
        )
        return Connection.of(page, WebhookEndpoint.from_row)


def _queued(row: Any, queued: int, more: bool = False) -> QueuedDeliveries:
    return QueuedDeliveries(
        webhook_endpoint=WebhookEndpoint.from_row(row), queued=queued, more=more
    )


@strawberry.type
class WebhookEndpointMutations:
    @mutation(
        _MANAGE,
        description="Register an endpoint. Its signing secret is in this answer, never again.",
    )
    async def create_webhook_endpoint(
        self, info: Ctx, input: CreateWebhookEndpointInput
    ) -> NewWebhookEndpoint:
        row, secret = await endpoints.create(
            info.context.uow,
            sent_values(input),
            snapshot,
            settings=info.context.settings,
            catalogue=_catalogue(),
        )
        return NewWebhookEndpoint(
            webhook_endpoint=WebhookEndpoint.from_row(row), secret=secret.reveal()
        )

    @mutation(_MANAGE, description="Change some fields of an endpoint.")
    async def update_webhook_endpoint(
        self, info: Ctx, id: strawberry.ID, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpoint:
        row = await endpoints.update(
            info.context.uow,
            str(id),
            sent_values(input),
            snapshot,
            settings=info.context.settings,
            catalogue=_catalogue(),
        )
        return WebhookEndpoint.from_row(row)

    @mutation(
        _MANAGE,
        description="Delete an endpoint: nothing more is sent to it, its history is kept.",
    )
    async def delete_webhook_endpoint(self, info: Ctx, id: strawberry.ID) -> DeletedObject:
        row = await endpoints.delete_endpoint(info.context.uow, str(id), snapshot)
        return DeletedObject(id=strawberry.ID(row.public_id))

    @mutation(
        _MANAGE,
        description="A new signing secret, signing from now; the previous one keeps signing "
        "beside it for the overlap (default 24 h), so receivers can switch without a gap.",
    )
    async def rotate_secret_webhook_endpoint(
        self,
        info: Ctx,
        id: strawberry.ID,
        input: RotateSecretWebhookEndpointInput | None = None,
    ) -> RotatedWebhookSecret:
        row, secret, until = await endpoints.rotate_secret(
            info.context.uow,
            str(id),
            sent_values(input or RotateSecretWebhookEndpointInput()),
            snapshot,
            settings=info.context.settings,
        )
        return RotatedWebhookSecret(
            webhook_endpoint=WebhookEndpoint.from_row(row),
            secret=secret.reveal(),
            previous_secret_valid_until=until,
        )

    @mutation(
        _MANAGE,
        description="End a rotation's overlap now: only the newest secret signs from here.",
    )
    async def end_rotation_webhook_endpoint(self, info: Ctx, id: strawberry.ID) -> WebhookEndpoint:
        row = await endpoints.end_rotation(info.context.uow, str(id), snapshot)
        return WebhookEndpoint.from_row(row)

    @mutation(
        _MANAGE,
        description="Send a signed `webhook_endpoint.tested` event to this endpoint now (to "
        "it only); its attempt shows in the delivery history.",
    )
    async def test_webhook_endpoint(self, info: Ctx, id: strawberry.ID) -> QueuedDeliveries:
        row = await endpoints.queue_test(info.context.uow, str(id), snapshot)
        return _queued(row, 1)

    @mutation(
        _MANAGE,
        description="Send one event to this endpoint again, with its original `webhook-id`.",
    )
    async def resend_webhook_endpoint(
        self, info: Ctx, id: strawberry.ID, input: ResendWebhookEndpointInput
    ) -> QueuedDeliveries:
        row = await endpoints.resend(info.context.uow, str(id), str(input.event_id), snapshot)
        return _queued(row, 1)

    @mutation(
        _MANAGE,
        description="Send again every delivery to this endpoint, of an event since `since`, "
        "whose last attempt failed. Successful deliveries are never sent again.",
    )
    async def recover_webhook_endpoint(
        self, info: Ctx, id: strawberry.ID, input: RecoverWebhookEndpointInput
    ) -> QueuedDeliveries:
        row, queued = await endpoints.recover(info.context.uow, str(id), input.since, snapshot)
        return _queued(row, queued)

    @mutation(
        _MANAGE,
        description="Send the events since `since` that this endpoint subscribes to but "
        f"never received, oldest first, at most {endpoints.MAX_REPLAY} per call.",
    )
    async def replay_missing_webhook_endpoint(
        self, info: Ctx, id: strawberry.ID, input: ReplayMissingWebhookEndpointInput
    ) -> QueuedDeliveries:
        row, queued, more = await endpoints.replay_missing(
            info.context.uow, str(id), input.since, snapshot
        )
        return _queued(row, queued, more)


ROOT_FIELDS = RootFields(queries=(WebhookEndpointQueries,), mutations=(WebhookEndpointMutations,))
