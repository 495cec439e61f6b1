"""Table models. Internal to the service: public types live in ``asteri.schema``."""

from asteri.models.activity import AuditEntry, Event
from asteri.models.api_key import ApiKey
from asteri.models.base import Environment, TenantRow
from asteri.models.customer import Customer, CustomerTag
from asteri.models.idempotency import IdempotencyRecord, IdempotencyState
from asteri.models.organization import Organization
from asteri.models.person import BearerSession, Person
from asteri.models.service import Service
from asteri.models.team_member import TeamMember

__all__ = [
    "ApiKey",
    "AuditEntry",
    "BearerSession",
    "Customer",
    "CustomerTag",
    "Environment",
    "Event",
    "IdempotencyRecord",
    "IdempotencyState",
    "Organization",
    "Person",
    "Service",
    "TeamMember",
    "TenantRow",
]
