"""Table models. Internal to the service: public types live in ``asteri.schema``.

Every module here is imported with the package, so its tables are in the metadata the
migrations, the tenant guard and the tests read, whether or not it is re-exported below.
"""

import importlib
import pkgutil

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

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
