"""``asteri demo``: an idempotent demo organization with sample data and an all-scopes key.

Sample data goes in through the public schema itself (same scopes, audit and events as any
caller), so the demo exercises the real write path.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from asteri.admin import KeyRequest, create_key, create_organization
from asteri.authz.isolation import request_database
from asteri.authz.principal import ActorType, Principal
from asteri.authz.scopes import Scope
from asteri.authz.sessions import issue_session
from asteri.kit.db import RequestStore, utcnow
from asteri.kit.errors import ApiError
from asteri.kit.settings import Settings
from asteri.models import ApiKey, Customer, Environment, Organization, TeamMember
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.service import SERVICES
from asteri.resolvers.team_member import TEAM_MEMBERS
from asteri.schema import build_schema
from asteri.schema.context import RequestContext

__all__ = ["DEMO_ORG_NAME", "DemoResult", "seed_demo"]

DEMO_ORG_NAME = "Asteri Demo Field Services"
DEMO_KEY_NAME = "Demo key (all scopes)"
DEMO_OWNER_EMAIL = "maria@demo-field.example"

SAMPLE: list[tuple[str, dict[str, Any]]] = [
    (
        "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
        {"input": CUSTOMERS.sample_input()},  # the customers' sample: the tests' and the docs'
    ),
    (
        "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
        {
            "input": {
                "displayName": "Northwind Offices",
                "company": "Northwind Traders",
                "emails": [{"address": "facilities@northwind.example", "label": "work"}],
                "tags": ["commercial"],
                "notes": "Gate code 4410. Service after 6pm only.",
            }
        },
    ),
    (
        "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
        {
            "input": {
                "displayName": "Kim Nguyen",
                "givenName": "Kim",
                "familyName": "Nguyen",
                "phones": [{"number": "+1 512 555 0199"}],
                "tags": ["residential"],
            }
        },
    ),
    *(
        (
            "mutation($input: CreateServiceInput!) { createService(input: $input) { id } }",
            {"input": service},
        )
        for service in [
            SERVICES.sample_input(),  # the services' sample
            {
                "name": "Furnace repair (diagnostic visit)",
                "description": "Diagnosis on site; parts and further labour quoted separately.",
                "unitPrice": {"amount": 8900, "currency": "USD"},
                "durationMinutes": 60,
            },
            {
                "name": "Water heater installation",
                "unitPrice": {"amount": 145000, "currency": "USD"},
                "durationMinutes": 240,
                "taxable": False,
            },
        ]
    ),
    *(
        (
            "mutation($input: CreateTeamMemberInput!) { createTeamMember(input: $input) { id } }",
            {"input": member},
        )
        for member in [
            {"name": "Maria Santos", "email": DEMO_OWNER_EMAIL, "role": "OWNER"},
            {"name": "Devon Clarke", "email": "devon@demo-field.example", "role": "DISPATCHER"},
            TEAM_MEMBERS.sample_input(),  # the team's sample
        ]
    ),
]


@dataclass(frozen=True)
class DemoResult:
    organization_id: str
    organization_name: str
    api_key: str
    api_key_id: str
    environment: str
    scopes: list[str]
    seeded: bool
    # A bearer session of the demo owner (Maria Santos), to try sessions and the security center.
    owner_member_id: str | None
    owner_session_token: str | None


async def _seed_samples(settings: Settings, principal: Principal) -> None:
    """Every sample in one transaction (mutations only flush; one commit at the end): a run
    that fails part-way leaves nothing, so the next run seeds them all."""
    database = request_database(settings)
    schema = build_schema()
    store = RequestStore(database)
    try:
        context = RequestContext(
            store=store, auth=principal, request_id="demo-seed", settings=settings
        )
        context.defer_commit = True
        for document, variables in SAMPLE:
            result = await schema.execute(
                document, variable_values=variables, context_value=context
            )
            if result.errors:
                raise ApiError(f"demo seeding failed: {result.errors[0].message}")
        await store.session.commit()
    finally:
        await store.close()
        await database.dispose()


def seed_demo(engine: Engine, settings: Settings) -> DemoResult:
    import asyncio

    pepper = settings.key_pepper.get_secret_value()
    with Session(engine) as session:
        org = session.scalar(select(Organization).where(col(Organization.name) == DEMO_ORG_NAME))
    if org is None:
        org = create_organization(engine, DEMO_ORG_NAME)
    assert org.id is not None
    with Session(engine) as session:
        # One live demo key at a time: a new run revokes the previous one and prints a new one.
        session.execute(
            update(ApiKey)
            .where(
                col(ApiKey.organization_id) == org.id,
                col(ApiKey.name) == DEMO_KEY_NAME,
                col(ApiKey.revoked_at).is_(None),
            )
            .values(revoked_at=utcnow())
        )
        session.commit()
        has_data = session.scalar(
            select(col(Customer.id)).where(col(Customer.organization_id) == org.id).limit(1)
        )
    scopes = sorted(s.value for s in Scope)
    issued = create_key(
        engine,
        KeyRequest(
            organization_id=org.public_id,
            scopes=scopes,
            environment=Environment.LIVE,
            expires_in=timedelta(days=30),
            name=DEMO_KEY_NAME,
        ),
        pepper=pepper,
    )
    if has_data is None:
        principal = Principal(
            organization_pk=org.id,
            organization_id=org.public_id,
            environment=Environment.LIVE,
            scopes=frozenset(Scope),
            actor_type=ActorType.API_KEY,
            actor_id=issued.record.public_id,
        )
        asyncio.run(_seed_samples(settings, principal))
    with Session(engine) as db:
        owner = db.scalar(
            select(TeamMember).where(
                col(TeamMember.organization_id) == org.id,
                col(TeamMember.email) == DEMO_OWNER_EMAIL,
                col(TeamMember.environment) == Environment.LIVE.value,
            )
        )
    owner_session = (
        issue_session(
            engine,
            owner.public_id,
            ttl=timedelta(hours=24),
            secret=settings.session_secret.get_secret_value(),
        )
        if owner is not None and owner.active
        else None
    )
    return DemoResult(
        organization_id=org.public_id,
        organization_name=org.name,
        api_key=issued.secret,
        api_key_id=issued.record.public_id,
        environment=Environment.LIVE.value,
        scopes=scopes,
        seeded=has_data is None,
        owner_member_id=owner.public_id if owner else None,
        owner_session_token=owner_session.token if owner_session else None,
    )
