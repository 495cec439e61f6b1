"""Persisted operations (``*.graphql``) and the REST routes bound to them (``ROUTES``).

Adding a resource: its ``.graphql`` file here and one ``resource_routes(...)`` entry below.
"""

from asteri.resolvers import customer as customers
from asteri.resolvers import team_member as members
from asteri.schema.lifecycle import transition_operations
from asteri.schema.operations.routes import LIST_PARAMETERS, ListParameter, Route, resource_routes

__all__ = ["LIST_PARAMETERS", "ROUTES", "ListParameter", "Route"]

ROUTES: list[Route] = [
    *resource_routes(
        "customers",
        "/customers",
        list="ListCustomers",
        retrieve="GetCustomer",
        create="CreateCustomer",
        update="UpdateCustomer",
        delete="DeleteCustomer",
        actions=transition_operations("Customer", customers.LIFECYCLE),
    ),
    Route(
        "retrieve", "/customers/{id}/activity", "ListCustomerActivity", "customers", ("activity",)
    ),
    *resource_routes(
        "team members",
        "/team_members",
        list="ListTeamMembers",
        retrieve="GetTeamMember",
        create="CreateTeamMember",
        update="UpdateTeamMember",
        actions=transition_operations("TeamMember", members.LIFECYCLE),
    ),
    *resource_routes(
        "services",
        "/services",
        list="ListServices",
        retrieve="GetService",
        create="CreateService",
        update="UpdateService",
        delete="DeleteService",
    ),
    *resource_routes(
        "api keys",
        "/api_keys",
        list="ListApiKeys",
        retrieve="GetApiKey",
        create="CreateApiKey",
        update="UpdateApiKey",
        actions={"rotate": "RotateApiKey", "revoke": "RevokeApiKey"},
        one_time_secrets=frozenset({"CreateApiKey", "RotateApiKey"}),
    ),
    Route("retrieve", "/viewer", "GetViewer", "viewer"),
]
