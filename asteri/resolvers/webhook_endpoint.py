"""Webhook endpoints: where an organization's events go, the secret that signs them, and the
operations that queue deliveries by hand (a test event, a resend, recover, replay_missing).

Queuing writes ``webhook_deliveries`` rows only; the worker (``workers/webhooks.py``) sends
them. Each operation runs under the endpoint's row lock (``schema.fields.Precondition`` holds
it), so two of them on one endpoint take turns.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from sqlalchemy import bindparam, exists, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.authz.tenancy import scoped, tenant, tenant_terms
from asteri.kit.db import utcnow
from asteri.kit.errors import BadUserInput, FieldError, NotFound
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.kit.pagination import Page
from asteri.kit.settings import Settings
from asteri.models import Event
from asteri.models.webhook import WebhookDelivery, WebhookEndpoint
from asteri.resolvers import crud
from asteri.resolvers.crud import Resource, Snapshot, Sort, Stability
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import validate
from asteri.webhooks.secrets import SecretBox, WebhookSecret, new_webhook_secret
from asteri.webhooks.subscriptions import PATTERN, split
from asteri.webhooks.targets import TargetRefused, validate_target_url

__all__ = [
    "MAX_REPLAY",
    "WEBHOOK_ENDPOINTS",
    "DeliveryStatus",
    "DisabledReason",
    "Trigger",
    "WebhookEndpointFields",
    "WebhookEndpointFilter",
    "create",
    "delete_endpoint",
    "end_rotation",
    "get",
    "list_endpoints",
    "queue_test",
    "read",
    "recover",
    "replay_missing",
    "resend",
    "rotate_secret",
    "update",
]

_SINCE = "2026-01-01T00:00:00Z"  # the samples' window start: fixed, so the examples are too

WEBHOOK_ENDPOINTS = Resource(
    model=WebhookEndpoint,
    name="webhook_endpoint",
    prefix="we",
    stability=Stability.AVAILABLE,
    sample=lambda s: {
        "url": "https://hooks.example.com/asteri",
        "description": f"Billing sync{s.distinct}",
        "eventTypes": ["customer.*", "appointment.completed"],
    },
    change={"description": "Billing sync (nightly)", "eventTypes": ["customer.created"]},
    invalid={"url": "ftp://hooks.example.com/asteri"},
    actions=("rotate_secret", "end_rotation", "test", "resend", "recover", "replay_missing"),
    action_events={
        "rotate_secret": "secret_rotated",
        "end_rotation": "rotation_ended",
        "test": "tested",
        "resend": "resent",
        "recover": "recovered",
        "replay_missing": "replayed",
    },
    action_samples={
        "rotate_secret": lambda _s: {"overlapSeconds": 3600},
        "resend": lambda s: {"eventId": s.event_of(CUSTOMERS)},
        "recover": lambda _s: {"since": _SINCE},
        "replay_missing": lambda _s: {"since": _SINCE},
    },
    system_events={
        "disabled": "The service disabled an endpoint: its receiver answered 410 Gone, or every "
        "attempt to it failed for 3 days (`disabled_reason` says which).",
    },
    one_time_secrets=frozenset({"Create", "RotateSecret"}),
)

MAX_EVENT_TYPES = 100
MAX_REPLAY = 5_000  # events one replay_missing call queues; call again for the rest
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)


class DisabledReason(Enum):
    """Why an endpoint receives nothing: set with ``enabled = false``, cleared by enabling it.
    Also the GraphQL ``WebhookDisabledReason``."""

    MANUAL = "manual"  # a caller set ``enabled: false``
    GONE = "gone"  # its receiver answered 410 Gone
    FAILING = "failing"  # every attempt failed for 3 days


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not attempted yet in its current run
    RETRYING = "retrying"  # its last attempt failed; another is scheduled
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the schedule is spent, or the endpoint answered 410


class Trigger(StrEnum):
    """What queued a delivery's current run."""

    EVENT = "event"  # the worker's fan-out of a new event
    TEST = "test"
    RESEND = "resend"
    RECOVER = "recover"
    REPLAY = "replay"


EventTypeName = Annotated[str, StringConstraints(pattern=PATTERN, max_length=64)]


class WebhookEndpointFields(BaseModel):
    """An endpoint's editable state; create and update both validate the whole of it."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://\S+$")]
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    event_types: list[EventTypeName] = Field(min_length=1, max_length=MAX_EVENT_TYPES)
    enabled: StrictBool = True


class RotateSecretWebhookEndpointFields(BaseModel):
    overlap_seconds: Annotated[int, Field(ge=0, le=int(MAX_OVERLAP.total_seconds()))] = int(
        DEFAULT_OVERLAP.total_seconds()
    )


class ReplayWindow(BaseModel):
    """``since``: the window's start; events at or after it are in it."""

    since: datetime


RecoverWebhookEndpointFields = ReplayWindow
ReplayMissingWebhookEndpointFields = ReplayWindow


class WebhookEndpointOrder(Enum):
    CREATED_AT_DESC = Sort("created_at_desc", WebhookEndpoint.created_at, descending=True)  # type: ignore[arg-type]
    CREATED_AT_ASC = Sort("created_at_asc", WebhookEndpoint.created_at, descending=False)  # type: ignore[arg-type]


@dataclass(frozen=True)
class WebhookEndpointFilter:
    """Also the GraphQL ``WebhookEndpointFilter`` (``schema.inputs.filter_input``)."""

    enabled: bool | None = field(
        default=None,
        metadata={"description": "null (default): all; true: enabled only; false: disabled only."},
    )


def _where(f: WebhookEndpointFilter) -> list[ColumnElement[bool]]:
    if f.enabled is None:
        return []
    return [col(WebhookEndpoint.enabled) == f.enabled]


def _checked(
    fields: WebhookEndpointFields, settings: Settings, catalogue: frozenset[str]
) -> dict[str, Any]:
    """The columns of a valid state: a deliverable URL (``webhooks/targets.py``) and event
    types the catalogue has (``resource.*`` for a resource that has events)."""
    errors: list[FieldError] = []
    try:
        url = validate_target_url(fields.url, settings)
    except TargetRefused as exc:
        url = fields.url
        errors.append(FieldError("/input/url", str(exc)))
    resources = {name.partition(".")[0] for name in catalogue}
    for i, name in enumerate(fields.event_types):
        resource, _, verb = name.partition(".")
        if not (name in catalogue or (verb == "*" and resource in resources)):
            errors.append(FieldError(f"/input/eventTypes/{i}", f"`{name}` is not an event type"))
    if errors:
        raise BadUserInput("The input is invalid; `errors` names each field.", errors=errors)
    values = fields.model_dump()
    values["url"] = url
    values["event_types"] = sorted(set(fields.event_types))
    return values


def _editable(row: WebhookEndpoint) -> dict[str, Any]:
    return {name: getattr(row, name) for name in WebhookEndpointFields.model_fields}


async def list_endpoints(
    uow: UnitOfWork,
    *,
    filter: WebhookEndpointFilter,
    sort: WebhookEndpointOrder,
    first: int,
    after: str | None,
) -> Page[Any]:
    return await crud.list_page(
        uow, WEBHOOK_ENDPOINTS, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    return await crud.read(uow, WEBHOOK_ENDPOINTS, public_id)


async def get(uow: UnitOfWork, public_id: str) -> WebhookEndpoint:
    row: WebhookEndpoint = await crud.get(uow, WEBHOOK_ENDPOINTS, public_id)
    return row


async def create(
    uow: UnitOfWork,
    data: dict[str, Any],
    snapshot: Snapshot,
    *,
    settings: Settings,
    catalogue: frozenset[str],
) -> tuple[WebhookEndpoint, WebhookSecret]:
    """A new endpoint and its first secret (returned here, stored encrypted only)."""
    columns = _checked(validate(WebhookEndpointFields, data), settings, catalogue)
    secret = new_webhook_secret()
    row = WebhookEndpoint(
        **columns,
        disabled_reason=None if columns["enabled"] else DisabledReason.MANUAL.value,
        secret_ciphertext=SecretBox.from_settings(settings).encrypt(secret),
        organization_id=0,
        environment="",
        public_id="",
    )
    row = await crud.create(uow, WEBHOOK_ENDPOINTS, row, snapshot, fields=sorted(data))
    return row, secret


async def update(
    uow: UnitOfWork,
    public_id: str,
    changes: dict[str, Any],
    snapshot: Snapshot,
    *,
    settings: Settings,
    catalogue: frozenset[str],
) -> WebhookEndpoint:
    """A patch; enabling clears ``disabled_reason`` and the failure clock, disabling by hand
    sets it to ``manual``."""
    row = await get(uow, public_id)
    merged = validate(WebhookEndpointFields, {**_editable(row), **changes})
    columns = _checked(merged, settings, catalogue)
    values = {k: columns[k] for k in changes}
    derived: dict[str, Any] = {}
    if "enabled" in changes and changes["enabled"] != row.enabled:
        reason = None if columns["enabled"] else DisabledReason.MANUAL.value
        values["disabled_reason"] = reason
        derived["failing_since"] = None
    return await crud.update(uow, WEBHOOK_ENDPOINTS, row, values, snapshot, derived=derived)


async def delete_endpoint(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> WebhookEndpoint:
    """Gone from every read; its pending deliveries are never sent (the worker sends only to
    endpoints that exist and are enabled)."""
    row = await get(uow, public_id)
    return await crud.soft_delete(uow, WEBHOOK_ENDPOINTS, row, snapshot)


async def rotate_secret(
    uow: UnitOfWork,
    public_id: str,
    data: dict[str, Any],
    snapshot: Snapshot,
    *,
    settings: Settings,
) -> tuple[WebhookEndpoint, WebhookSecret, datetime | None]:
    """A new secret signs from now; the current one keeps signing beside it for ``overlap``
    (0: it stops at once). A rotation during another's overlap ends the older overlap: at
    most two secrets sign. Returns the endpoint, the new secret and when the old one stops."""
    overlap = timedelta(seconds=validate(RotateSecretWebhookEndpointFields, data).overlap_seconds)
    row = await get(uow, public_id)
    box = SecretBox.from_settings(settings)
    secret = new_webhook_secret()
    until = utcnow() + overlap if overlap > timedelta(0) else None
    row.previous_secret_ciphertext = row.secret_ciphertext if until is not None else None
    row.previous_secret_expires_at = until
    row.secret_ciphertext = box.encrypt(secret)
    row.updated_at = utcnow()
    uow.session.add(row)
    await uow.session.flush()
    verb = WEBHOOK_ENDPOINTS.event_of("rotate_secret")
    crud.record(uow, WEBHOOK_ENDPOINTS, row, verb, ["secret"], snapshot)
    return row, secret, until


async def end_rotation(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> WebhookEndpoint:
    """The previous secret stops signing now. Without a rotation in its overlap this changes
    nothing and records nothing."""
    row = await get(uow, public_id)
    now = utcnow()
    expires = row.previous_secret_expires_at
    if row.previous_secret_ciphertext is None or expires is None or expires <= now:
        return row
    row.previous_secret_ciphertext = None
    row.previous_secret_expires_at = None
    row.updated_at = now
    uow.session.add(row)
    await uow.session.flush()
    verb = WEBHOOK_ENDPOINTS.event_of("end_rotation")
    crud.record(uow, WEBHOOK_ENDPOINTS, row, verb, ["secret"], snapshot)
    return row


def active_secrets(row: Any, box: SecretBox, now: datetime) -> list[WebhookSecret]:
    """The secrets that sign now: the current one, and the previous during its overlap."""
    found = [box.decrypt(row.secret_ciphertext)]
    expires = row.previous_secret_expires_at
    if row.previous_secret_ciphertext is not None and expires is not None and expires > now:
        found.append(box.decrypt(row.previous_secret_ciphertext))
    return found


# --- queuing deliveries by hand ------------------------------------------------------------

_DELIVERY = WebhookDelivery.__table__.c  # type: ignore[attr-defined]
_EVENT = Event.__table__.c  # type: ignore[attr-defined]


def _new_delivery(row: WebhookEndpoint, event_pk: int, trigger: Trigger) -> dict[str, Any]:
    now = utcnow()
    return {
        "public_id": new_public_id(IdPrefix.WEBHOOK_DELIVERY),
        "organization_id": row.organization_id,
        "environment": row.environment,
        "endpoint_id": row.id,
        "event_id": event_pk,
        "status": DeliveryStatus.PENDING.value,
        "trigger": trigger.value,
        "attempts": 0,
        "step": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _rerun(trigger: Trigger) -> dict[str, Any]:
    """A delivery's new run: due now, at the schedule's start, no worker's lease."""
    return {
        "status": DeliveryStatus.PENDING.value,
        "trigger": trigger.value,
        "step": 0,
        "next_attempt_at": utcnow(),
        "lease_token": None,
        "leased_until": None,
        "updated_at": utcnow(),
    }


async def _queue_one(
    uow: UnitOfWork, row: WebhookEndpoint, event_pk: int, trigger: Trigger
) -> None:
    """Queue (event, endpoint) now: a new delivery, or its existing one run again (the same
    ``webhook-id``, so a receiver that already has it can drop the copy)."""
    rerun = await uow.session.execute(
        sql_update(WebhookDelivery)
        .where(
            col(WebhookDelivery.endpoint_id) == row.id,
            col(WebhookDelivery.event_id) == event_pk,
            *tenant_terms(WebhookDelivery),
        )
        .values(**_rerun(trigger))
        .execution_options(synchronize_session=False),
        tenant(uow.principal),
    )
    if rerun.rowcount == 0:  # type: ignore[attr-defined]
        await uow.session.execute(
            insert(WebhookDelivery).values(**_new_delivery(row, event_pk, trigger))
        )


async def queue_test(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> WebhookEndpoint:
    """Send ``webhook_endpoint.tested`` to this endpoint only, at once: the event is recorded
    as fanned out already, and its one delivery queued here."""
    row = await get(uow, public_id)
    verb = WEBHOOK_ENDPOINTS.event_of("test")
    event = crud.record(uow, WEBHOOK_ENDPOINTS, row, verb, [], snapshot)
    event.fanned_out_at = utcnow()
    await uow.session.flush()
    assert event.id is not None
    await _queue_one(uow, row, event.id, Trigger.TEST)
    return row


_EVENT_BY_ID = scoped(Event).where(col(Event.public_id) == bindparam("event_id"))


async def resend(
    uow: UnitOfWork, public_id: str, event_id: str, snapshot: Snapshot
) -> WebhookEndpoint:
    """Send one event of the organization to this endpoint again (or for the first time),
    whether or not it subscribes to its type: the caller asked for this one."""
    row = await get(uow, public_id)
    event = await uow.rows.one(_EVENT_BY_ID, tenant(uow.principal, event_id=event_id))
    if event is None:
        raise NotFound(f"No event with id `{event_id}`.")
    await _queue_one(uow, row, event.id, Trigger.RESEND)
    crud.record(uow, WEBHOOK_ENDPOINTS, row, WEBHOOK_ENDPOINTS.event_of("resend"), [], snapshot)
    return row


def _window(since: datetime) -> datetime:
    if since.tzinfo is None:
        raise BadUserInput(
            "`since` needs a UTC offset, e.g. 2026-01-01T00:00:00Z.",
            errors=[FieldError("/input/since", "must include a UTC offset")],
        )
    return since


async def recover(
    uow: UnitOfWork, public_id: str, since: datetime, snapshot: Snapshot
) -> tuple[WebhookEndpoint, int]:
    """Run again every delivery to this endpoint of an event since ``since`` whose last
    attempt failed (retrying, or given up); never a successful or a pending one. How many."""
    row = await get(uow, public_id)
    events = select(_EVENT.id).where(_EVENT.occurred_at >= _window(since), *tenant_terms(Event))
    rerun = await uow.session.execute(
        sql_update(WebhookDelivery)
        .where(
            col(WebhookDelivery.endpoint_id) == row.id,
            col(WebhookDelivery.status).in_(
                [DeliveryStatus.RETRYING.value, DeliveryStatus.FAILED.value]
            ),
            col(WebhookDelivery.event_id).in_(events.scalar_subquery()),
            *tenant_terms(WebhookDelivery),
        )
        .values(**_rerun(Trigger.RECOVER))
        .execution_options(synchronize_session=False),
        tenant(uow.principal),
    )
    crud.record(uow, WEBHOOK_ENDPOINTS, row, WEBHOOK_ENDPOINTS.event_of("recover"), [], snapshot)
    return row, int(rerun.rowcount)  # type: ignore[attr-defined]


async def replay_missing(
    uow: UnitOfWork, public_id: str, since: datetime, snapshot: Snapshot
) -> tuple[WebhookEndpoint, int, bool]:
    """Queue every event since ``since`` of a type this endpoint subscribes to that it has no
    delivery of (it did not exist yet, or was disabled), oldest first, at most ``MAX_REPLAY``.
    Returns how many, and whether more remain (call again: they are still missing)."""
    row = await get(uow, public_id)
    exact, resources = split(row.event_types)
    delivered = exists().where(
        _DELIVERY.event_id == _EVENT.id,
        _DELIVERY.endpoint_id == row.id,
        *tenant_terms(WebhookDelivery),
    )
    missing = (
        scoped(Event)
        .with_only_columns(_EVENT.id)
        .where(
            _EVENT.occurred_at >= _window(since),
            or_(_EVENT.type.in_(sorted(exact)), _EVENT.resource_type.in_(sorted(resources))),
            ~delivered,
        )
        .order_by(_EVENT.id)
        .limit(MAX_REPLAY + 1)
    )
    found = [r.id for r in await uow.session.execute(missing, tenant(uow.principal))]
    batch = found[:MAX_REPLAY]
    if batch:
        await uow.session.execute(
            insert(WebhookDelivery), [_new_delivery(row, pk, Trigger.REPLAY) for pk in batch]
        )
    crud.record(
        uow, WEBHOOK_ENDPOINTS, row, WEBHOOK_ENDPOINTS.event_of("replay_missing"), [], snapshot
    )
    return row, len(batch), len(found) > MAX_REPLAY
