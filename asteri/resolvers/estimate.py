"""Estimates: a priced quote for a customer, and its way to an answer.

The lifecycle is ``draft → sent → approved | declined``; a sent estimate still unanswered
after its ``valid_until`` day (UTC) is ``expired`` by the background runner
(``expire_overdue``), an event of its own (``estimate.expired``). Only a draft may be changed
or deleted. Approving records who approved: a member's session approves as that member; a
key records the customer's approval, by name and channel (a key is not a person).

A new estimate takes the tenant's next number (``EST-0001``, ``resolvers/numbering.py``) in
its own transaction. Its customer, lines and totals are a priced document's
(``resolvers/documents.py``).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from asteri.authz.principal import ActorType, Principal
from asteri.kit.errors import BadUserInput, FieldError
from asteri.kit.pagination import Page
from asteri.models.estimate import Estimate
from asteri.resolvers import crud
from asteri.resolvers.crud import Resource, SampleContext, Snapshot, Sort
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.documents import DocumentFields, priced_columns, sweep, update_document
from asteri.resolvers.lifecycle import Entering, Lifecycle, Transition, require_state
from asteri.resolvers.numbering import issue_number
from asteri.resolvers.service import SERVICES
from asteri.resolvers.unit import UnitOfWork
from asteri.resolvers.validation import non_blank, validate

__all__ = [
    "ESTIMATES",
    "ApprovalChannel",
    "EstimateFields",
    "EstimateFilter",
    "EstimateOrder",
    "EstimateStatus",
    "create",
    "delete_estimate",
    "expire_overdue",
    "list_estimates",
    "read",
    "update",
]


class EstimateStatus(Enum):
    """Where an estimate is (the values are the stored states)."""

    DRAFT = "draft"
    SENT = "sent"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"


class ApprovalChannel(Enum):
    """How the customer gave their approval."""

    IN_PERSON = "in_person"
    PHONE = "phone"
    EMAIL = "email"
    PORTAL = "portal"
    OTHER = "other"


class ApproveEstimateFields(BaseModel):
    """Who approved: the customer, by name and channel; left out by a member approving it
    themselves (their session)."""

    model_config = ConfigDict(extra="forbid")

    customer_name: Annotated[str, non_blank(200)] | None = None
    channel: ApprovalChannel | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> "ApproveEstimateFields":
        if (self.customer_name is None) != (self.channel is None):
            raise ValueError("customerName and channel go together: give both, or neither")
        return self


def _approval(entering: Entering) -> dict[str, Any]:
    given = entering.input
    assert isinstance(given, ApproveEstimateFields)
    if given.customer_name is not None and given.channel is not None:
        return {"by": "customer", "name": given.customer_name, "channel": given.channel.value}
    principal: Principal = entering.principal
    if principal.actor_type is ActorType.MEMBER:
        return {"by": "member", "team_member_id": principal.actor_id}
    raise BadUserInput(
        "An API key approves on the customer's behalf: give `customerName` and `channel`.",
        errors=[FieldError("/input/customerName", "required when a key approves")],
    )


def _columns(entering: Entering) -> dict[str, Any]:
    columns: dict[str, Any] = {"status": entering.state}
    if entering.state == "sent":
        columns["sent_at"] = entering.at
    elif entering.state == "approved":
        columns |= {"approved_at": entering.at, "approval": _approval(entering)}
    elif entering.state == "declined":
        columns |= {"declined_at": entering.at, "decline_reason": entering.reason}
    return columns


LIFECYCLE = Lifecycle(
    states=tuple(s.value for s in EstimateStatus),
    transitions=(
        Transition(
            "send",
            sources=("draft",),
            target="sent",
            event="sent",
            description="Send the estimate to the customer: from now on it is only answered.",
        ),
        Transition(
            "approve",
            sources=("sent",),
            target="approved",
            event="approved",
            description="The customer accepted it (the acceptance event): who approved, and "
            "when, are recorded.",
            input=ApproveEstimateFields,
        ),
        Transition(
            "decline",
            sources=("sent",),
            target="declined",
            event="declined",
            description="The customer turned it down; the reason is kept.",
            reason=True,
        ),
    ),
    state=lambda row: row.status,
    columns=_columns,
)


def _sample(s: SampleContext) -> dict[str, Any]:
    return {
        "customerId": s.id_of(CUSTOMERS),
        "currency": "USD",
        "taxRateBps": 825,
        "validUntil": "2029-12-31",
        "lineItems": [
            {"serviceId": s.id_of(SERVICES), "quantity": 1.5},
            {
                "description": f"Haul away the old unit{s.distinct}",
                "unitPrice": {"amount": 7500, "currency": "USD"},
                "taxable": False,
            },
        ],
        "notes": "Parts are in stock; work can start within the week.",
    }


ESTIMATES = Resource(
    model=Estimate,
    name="estimate",
    prefix="est",
    lifecycle=LIFECYCLE,
    sample=_sample,
    change={"notes": "Includes a 12-month labor warranty.", "taxRateBps": 800},
    invalid={"taxRateBps": 10_001},
    # ``convert``: its invoice (``resolvers/invoice.py::convert_estimate``), once only.
    actions=("convert",),
    action_events={"convert": "converted"},
    action_sources={"convert": ("approved",)},
    action_samples={"approve": lambda _s: {"customerName": "Ana Rivera", "channel": "EMAIL"}},
    system_events={
        "expired": "A sent estimate was still unanswered after its `valid_until` day (UTC): "
        "the service expired it.",
    },
)


class EstimateFields(DocumentFields):
    """An estimate's editable state: a priced document's, and its validity."""

    valid_until: date


class EstimateOrder(Enum):
    CREATED_AT_DESC = Sort("created_at_desc", Estimate.created_at, descending=True)  # type: ignore[arg-type]
    CREATED_AT_ASC = Sort("created_at_asc", Estimate.created_at, descending=False)  # type: ignore[arg-type]
    VALID_UNTIL_ASC = Sort("valid_until_asc", Estimate.valid_until, descending=False)  # type: ignore[arg-type]


@dataclass(frozen=True)
class EstimateFilter:
    """Also the GraphQL ``EstimateFilter`` (``schema.inputs.filter_input``)."""

    status: EstimateStatus | None = field(
        default=None, metadata={"description": "Only estimates in this state."}
    )
    customer_id: str | None = field(
        default=None, metadata={"description": "One customer's estimates (`cus_…`)."}
    )
    appointment_id: str | None = field(
        default=None, metadata={"description": "One appointment's estimates (`apt_…`)."}
    )
    updated_since: datetime | None = None


def _where(f: EstimateFilter) -> list[ColumnElement[bool]]:
    return [
        *crud.equal_to(
            f,
            {
                "status": col(Estimate.status),
                "customer_id": col(Estimate.customer_id),
                "appointment_id": col(Estimate.appointment_id),
            },
        ),
        *crud.updated_since(col(Estimate.updated_at), f.updated_since),
    ]


async def list_estimates(
    uow: UnitOfWork, *, filter: EstimateFilter, sort: EstimateOrder, first: int, after: str | None
) -> Page[Estimate]:
    return await crud.list_page(
        uow, ESTIMATES, where=_where(filter), sort=sort.value, first=first, after=after
    )


async def read(uow: UnitOfWork, public_id: str) -> Any:
    return await crud.read(uow, ESTIMATES, public_id)


async def create(uow: UnitOfWork, data: dict[str, Any], snapshot: Snapshot) -> Estimate:
    """A new estimate is a ``draft``, numbered at once."""
    fields = validate(EstimateFields, data)
    columns = await priced_columns(uow, fields)
    row = Estimate(
        **columns,
        number=await issue_number(uow, "estimate"),
        status="draft",
        organization_id=0,
        environment="",
        public_id="",
    )
    return await crud.create(uow, ESTIMATES, row, snapshot, fields=sorted(data))


async def update(
    uow: UnitOfWork, public_id: str, changes: dict[str, Any], snapshot: Snapshot
) -> Estimate:
    """A draft's new state (``documents.update_document``)."""
    row: Estimate = await crud.get(uow, ESTIMATES, public_id)
    require_state(ESTIMATES, row, "update", ("draft",))
    updated: Estimate = await update_document(
        uow, ESTIMATES, row, changes, EstimateFields, snapshot
    )
    return updated


async def delete_estimate(uow: UnitOfWork, public_id: str, snapshot: Snapshot) -> Estimate:
    """Only a draft may be deleted: a sent estimate is part of the customer's record."""
    row: Estimate = await crud.get(uow, ESTIMATES, public_id)
    require_state(ESTIMATES, row, "delete", ("draft",))
    return await crud.soft_delete(uow, ESTIMATES, row, snapshot)


async def expire_overdue(
    conn: AsyncConnection, snapshot: Snapshot, *, now: datetime, limit: int = 500
) -> int:
    """The background runner's chore: every sent estimate whose ``valid_until`` day (UTC) has
    passed becomes ``expired`` (``estimate.expired``, by the system). How many."""
    today = now.astimezone(UTC).date()
    return await sweep(
        conn,
        ESTIMATES,
        snapshot,
        due=[col(Estimate.status) == "sent", col(Estimate.valid_until) < today],
        changes={"status": "expired", "expired_at": now, "updated_at": now},
        verb="expired",
        limit=limit,
    )
