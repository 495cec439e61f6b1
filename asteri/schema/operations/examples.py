"""Examples for the OpenAPI document, by schema name. A test validates each one against the
generated schema, so an example cannot drift from the contract. The inputs are each
resource's own samples, in GraphQL spelling (the document spells them as REST does); the
answers are written in REST spelling."""

from typing import Any

from asteri.kit.errors import ErrorCode, problem_body
from asteri.kit.naming import pascal
from asteri.kit.settings import DEFAULT_PUBLIC_URL
from asteri.resolvers.registry import resources

__all__ = ["EXAMPLES", "INPUT_EXAMPLES"]

_AT = "2026-11-29T16:04:05.123456+00:00"

_API_KEY: dict[str, Any] = {
    "object": "api_key",
    "id": "key_3kTMd9ZQbW2xYv8NpLr6Hs",
    "name": "Billing sync",
    "display_prefix": "ast_live_2SzS0m",
    "environment": "live",
    "scopes": ["read:customers", "read:invoices"],
    "expires_at": "2027-02-27T16:04:05.123456+00:00",
    "revoked_at": None,
    "last_used_at": None,
    "rotated_from": None,
    "created_by": "member:tm_5bQ2wXk9VdRt7mNpZc3LhA",
    "persisted_only": False,
    "per_minute": 120,
    "per_day": 10000,
    "created_at": _AT,
    "version": 1,
    "status": "active",
}

# Each resource's create, update and action examples are its own sample inputs: the same
# bodies the tests send and the demo starts from.
INPUT_EXAMPLES: dict[str, dict[str, Any]] = {
    f"{kind}{resource.type_name}Input": body
    for resource in resources()
    for kind, body in (
        ("Create", resource.sample_input()),
        ("Update", resource.change),
        *((pascal(action), resource.action_input(action)) for action in resource.action_samples),
        *(
            (pascal(step.name), resource.action_input(step.name))
            for step in (resource.lifecycle.transitions if resource.lifecycle else ())
            if step.reason
        ),
    )
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "Customer": {
        "object": "customer",
        "id": "cus_2SzS0mgSPFbRPQiNrCGhz4",
        "display_name": "Rivera Family",
        "given_name": "Ana",
        "family_name": "Rivera",
        "company": None,
        "emails": [{"address": "ana.rivera@example.com", "label": "home", "primary": True}],
        "phones": [{"number": "+1 512 555 0101", "label": "mobile", "primary": True}],
        "addresses": [
            {
                "line1": "1200 Barton Springs Rd",
                "line2": None,
                "city": "Austin",
                "region": "TX",
                "postal_code": "78704",
                "country": "US",
                "label": None,
                "primary": True,
            }
        ],
        "tags": ["residential", "vip"],
        "notes": "Gate code 4410.",
        "archived": False,
        "archived_at": None,
        "created_at": _AT,
        "updated_at": _AT,
        "version": 3,
    },
    "TeamMember": {
        "object": "team_member",
        "id": "tm_5yOYVyqe1XZhdRIPBvCcLV",
        "name": "Sam Okafor",
        "email": "sam@example.com",
        "role": "technician",
        "active": True,
        "created_at": _AT,
        "updated_at": _AT,
        "version": 3,
    },
    "Service": {
        "object": "service",
        "id": "svc_6RZFeTUgMqFqvh42MDMiCl",
        "name": "AC tune-up",
        "description": "Seasonal check: coils, refrigerant level, filters, thermostat.",
        "unit_price": {"amount": 12900, "currency": "USD"},
        "duration_minutes": 90,
        "taxable": True,
        "bookable_online": True,
        "active": True,
        "created_at": _AT,
        "updated_at": _AT,
        "version": 3,
    },
    "ApiKey": _API_KEY,
    "NewApiKey": {
        "object": "new_api_key",
        "api_key": {k: v for k, v in _API_KEY.items() if k != "object"},
        "secret": "ast_live_2SzS0mgSPFbRPQiNrCGhz4f7kQ1bXw9mYc3LuVt8eR5nJ2Pq0aZ1HdK4",
    },
    # Made as every problem is (kit/errors.py), under the default portal base.
    "ProblemDetails": problem_body(
        code=ErrorCode.FORBIDDEN,
        detail="This operation requires the `read:customers` scope, which the credential lacks.",
        request_id="req_aa9110b7f9ecbcdbb5d7c5cb",
        public_url=DEFAULT_PUBLIC_URL,
        instance="/api/public/v1/customers",
        extensions={"reason": "missing_scope", "required_scope": "read:customers"},
    ),
}
