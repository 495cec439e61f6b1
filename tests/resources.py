"""Every resource the matrices cover. Adding a resource = one ``ResourceCase`` here.

The tenancy, environment and audit matrices in ``test_tenancy.py`` and ``test_audit.py`` run
each case; the scope matrix walks the schema itself and needs nothing from here. A resource
of the resolvers without a case fails ``test_tenancy.py::test_every_resource_has_a_case``.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.factories import Api, Credential


@dataclass(frozen=True)
class ResourceCase:
    name: str  # event/audit resource type, e.g. "customer"
    prefix: str  # public id prefix with underscore, e.g. "cus_"
    create: str  # mutation($input: …!) { createX(input: $input) { id } }
    create_input: Callable[[], dict[str, Any]]
    get: str  # query($id: ID!) { x(id: $id) { id } }
    listing: str  # query { xs(first: 100, …) { nodes { id } } } (must include archived/inactive)
    update: str  # mutation($id: ID!, $input: …!) { updateX(id: $id, input: $input) { id } }
    update_input: Callable[[], dict[str, Any]]
    update_fields: list[str]  # snake_case public fields that update_input changes
    delete: str | None  # mutation($id: ID!) { deleteX(id: $id) { id } }, None if no delete
    # An input that passes GraphQL's types but not the resource's validation.
    invalid_input: dict[str, Any] = field(default_factory=dict)
    delete_verb: str = "deleted"  # the event of ``delete``
    # Managed by an owner's or admin's session (the security center), never by a key.
    manager: bool = False
    # Rows of the whole organization, seen from both its environments.
    every_environment: bool = False
    id_path: tuple[str, ...] = ("id",)  # where ``create``'s answer holds the new id

    def credential(
        self, api: Api, *, org: str | None = None, environment: str = "live"
    ) -> Credential:
        """Who may write this resource in ``org`` (a new organization by default)."""
        key = api.key(org=org, environment=environment)
        return api.session(org_key=key) if self.manager else key

    def first_key(self, document: str) -> str:
        """The root field name of an operation document, e.g. ``createCustomer``."""
        body = document[document.index("{") + 1 :]
        return body.split("(")[0].split("{")[0].strip()

    def created_id(self, data: dict[str, Any]) -> str:
        """The new object's id in the answer of ``create`` (at ``id_path`` below its field)."""
        found: Any = data[self.first_key(self.create)]
        for key in self.id_path:
            found = found[key]
        return str(found)


def _suffix() -> str:
    return secrets.token_hex(3)


CUSTOMER = ResourceCase(
    name="customer",
    prefix="cus_",
    create="mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
    create_input=lambda: {"displayName": f"Customer {_suffix()}", "tags": ["matrix"]},
    get="query($id: ID!) { customer(id: $id) { id } }",
    listing="query { customers(first: 100, filter: {archived: null}) { nodes { id } } }",
    update=(
        "mutation($id: ID!, $input: UpdateCustomerInput!) "
        "{ updateCustomer(id: $id, input: $input) { id } }"
    ),
    update_input=lambda: {"company": f"Company {_suffix()}"},
    update_fields=["company"],
    delete="mutation($id: ID!) { deleteCustomer(id: $id) { id } }",
    invalid_input={"displayName": ""},
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
    listing="query { teamMembers(first: 100, filter: {active: null}) { nodes { id } } }",
    update=(
        "mutation($id: ID!, $input: UpdateTeamMemberInput!) "
        "{ updateTeamMember(id: $id, input: $input) { id } }"
    ),
    update_input=lambda: {"name": f"Renamed {_suffix()}"},
    update_fields=["name"],
    delete=None,  # no delete:team scope: members are deactivated, never deleted
    invalid_input={"name": ""},
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
    listing="query { services(first: 100, filter: {active: null}) { nodes { id } } }",
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
    invalid_input={"name": ""},
)

API_KEY = ResourceCase(
    name="api_key",
    prefix="key_",
    create=(
        "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } } }"
    ),
    create_input=lambda: {
        "name": f"Key {_suffix()}",
        "scopes": ["read:customers"],
        "expiresIn": 86_400,
    },
    get="query($id: ID!) { apiKey(id: $id) { id } }",
    listing="query { apiKeys(first: 100) { nodes { id } } }",
    update=(
        "mutation($id: ID!, $input: UpdateApiKeyInput!) "
        "{ updateApiKey(id: $id, input: $input) { id } }"
    ),
    update_input=lambda: {"name": f"Renamed {_suffix()}"},
    update_fields=["name"],
    delete="mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
    invalid_input={"name": ""},
    delete_verb="revoked",
    manager=True,
    every_environment=True,
    id_path=("apiKey", "id"),
)

RESOURCES: list[ResourceCase] = [CUSTOMER, TEAM_MEMBER, SERVICE, API_KEY]
