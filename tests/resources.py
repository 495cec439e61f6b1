"""Every resource the matrices cover. Adding a resource = one ``ResourceCase`` here.

The tenancy, environment and audit matrices in ``test_tenancy.py`` and ``test_audit.py`` run
each case; the scope matrix walks the schema itself and needs nothing from here.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceCase:
    name: str  # event/audit resource type, e.g. "customer"
    prefix: str  # public id prefix with underscore, e.g. "cus_"
    create: str  # mutation($input: …!) { createX(input: $input) { id } }
    create_input: Callable[[], dict[str, Any]]
    get: str  # query($id: ID!) { x(id: $id) { id } }
    list: str  # query { xs(first: 100, …) { nodes { id } } } (must include archived/inactive)
    update: str  # mutation($id: ID!, $input: …!) { updateX(id: $id, input: $input) { id } }
    update_input: Callable[[], dict[str, Any]]
    update_fields: list[str]  # snake_case public fields that update_input changes
    delete: str | None  # mutation($id: ID!) { deleteX(id: $id) { id } }, None if no delete

    def first_key(self, document: str) -> str:
        """The root field name of an operation document, e.g. ``createCustomer``."""
        body = document[document.index("{") + 1 :]
        return body.split("(")[0].split("{")[0].strip()


def _suffix() -> str:
    return secrets.token_hex(3)


CUSTOMER = ResourceCase(
    name="customer",
    prefix="cus_",
    create="mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
    create_input=lambda: {"displayName": f"Customer {_suffix()}", "tags": ["matrix"]},
    get="query($id: ID!) { customer(id: $id) { id } }",
    list="query { customers(first: 100, filter: {archived: null}) { nodes { id } } }",
    update=(
        "mutation($id: ID!, $input: UpdateCustomerInput!) "
        "{ updateCustomer(id: $id, input: $input) { id } }"
    ),
    update_input=lambda: {"company": f"Company {_suffix()}"},
    update_fields=["company"],
    delete="mutation($id: ID!) { deleteCustomer(id: $id) { id } }",
)

TEAM_MEMBER = ResourceCase(
    name="team_member",
    prefix="tm_",
    create="mutation($input: CreateTeamMemberInput!) { createTeamMember(input: $input) { id } }",
    create_input=lambda: {
        "name": f"Member {_suffix()}",
        "email": f"member-{_suffix()}@example.com",
        "role": "TECHNICIAN",
    },
    get="query($id: ID!) { teamMember(id: $id) { id } }",
    list="query { teamMembers(first: 100, filter: {active: null}) { nodes { id } } }",
    update=(
        "mutation($id: ID!, $input: UpdateTeamMemberInput!) "
        "{ updateTeamMember(id: $id, input: $input) { id } }"
    ),
    update_input=lambda: {"name": f"Renamed {_suffix()}"},
    update_fields=["name"],
    delete=None,  # no delete:team scope: members are deactivated, never deleted
)

SERVICE = ResourceCase(
    name="service",
    prefix="svc_",
    create="mutation($input: CreateServiceInput!) { createService(input: $input) { id } }",
    create_input=lambda: {
        "name": f"Service {_suffix()}",
        "unitPrice": {"amount": 12900, "currency": "USD"},
        "durationMinutes": 60,
    },
    get="query($id: ID!) { service(id: $id) { id } }",
    list="query { services(first: 100, filter: {active: null}) { nodes { id } } }",
    update=(
        "mutation($id: ID!, $input: UpdateServiceInput!) "
        "{ updateService(id: $id, input: $input) { id } }"
    ),
    # Never 12900, so the price always changes; the audit names the public field.
    update_input=lambda: {
        "unitPrice": {"amount": 13000 + secrets.randbelow(10_000), "currency": "USD"}
    },
    update_fields=["unit_price"],
    delete="mutation($id: ID!) { deleteService(id: $id) { id } }",
)

RESOURCES: list[ResourceCase] = [CUSTOMER, TEAM_MEMBER, SERVICE]
