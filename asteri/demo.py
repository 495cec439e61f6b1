"""``asteri demo``: an idempotent demo organization with sample data and an all-scopes key.

Sample data goes in through the public schema itself (same scopes, audit and events as any
caller), so the demo exercises the real write path: customers, services and the team, a week
of appointments, and a month of estimates, invoices and payments (``demo_money.py``).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from asteri.admin import KeyRequest, create_key, create_organization
from asteri.authz.isolation import request_database
from asteri.authz.principal import ActorType, Principal
from asteri.authz.scopes import Scope
from asteri.authz.sessions import issue_session
from asteri.demo_money import expire_estimates, seed_month
from asteri.kit.db import RequestStore, utcnow
from asteri.kit.errors import ApiError
from asteri.kit.naming import camel, pascal, snake
from asteri.kit.settings import Settings
from asteri.models import ApiKey, Customer, Environment, Organization, TeamMember
from asteri.resolvers.appointment import APPOINTMENTS
from asteri.resolvers.crud import Resource, SampleContext
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


def _week(ids: dict[str, list[str]]) -> list[tuple[dict[str, Any], list[str]]]:
    """A believable week of appointments for the demo's customers, services and team (``ids``
    by resource, in the order made): this week's Monday to Saturday in Austin, every state
    seen. Each is (input, the transitions that bring it to its state); the first is the
    appointments' own sample."""
    customers, services, team = ids["customer"], ids["service"], ids["team_member"]
    zone = ZoneInfo("America/Chicago")
    today = datetime.now(zone).date()
    monday = today - timedelta(days=today.weekday())

    def visit(day: int, start: str, hours: float, **fields: Any) -> dict[str, Any]:
        begin = datetime.combine(monday + timedelta(days=day), time.fromisoformat(start), zone)
        return {
            "scheduledStart": begin.astimezone(UTC).isoformat(),
            "scheduledEnd": (begin + timedelta(hours=hours)).astimezone(UTC).isoformat(),
            "timeZone": "America/Chicago",
            **fields,
        }

    def first(resource: Resource) -> str:
        return ids[resource.name][0]

    sample = APPOINTMENTS.sample_input(SampleContext(id_of=first))
    return [
        ({**sample, **visit(0, "08:00", 1.5)}, ["dispatch", "start", "complete"]),
        (
            visit(
                0,
                "13:00",
                1,
                customerId=customers[2],
                services=[{"serviceId": services[1]}],
                assigneeIds=[team[2]],
                address={"line1": "88 Rainey St", "city": "Austin", "region": "TX"},
            ),
            ["mark_no_show"],
        ),
        (
            visit(
                1,
                "09:00",
                4,
                customerId=customers[1],
                services=[{"serviceId": services[2], "quantity": 2}],
                assigneeIds=[team[2], team[1]],
                address={"line1": "500 W 2nd St", "city": "Austin", "region": "TX"},
                notes="Two units on the roof; loading dock access.",
            ),
            ["cancel"],
        ),
        (
            visit(2, "10:00", 1.5, customerId=customers[0], services=[{"serviceId": services[1]}]),
            ["dispatch", "start"],
        ),
        (
            visit(
                3,
                "08:00",
                2,
                customerId=customers[0],
                services=[{"serviceId": services[0]}],
                assigneeIds=[team[2]],
            ),
            ["dispatch"],
        ),
        (
            visit(
                4,
                "09:00",
                1.5,
                customerId=customers[2],
                services=[{"serviceId": services[0]}, {"serviceId": services[1]}],
                assigneeIds=[team[2]],
                address={"line1": "88 Rainey St", "city": "Austin", "region": "TX"},
            ),
            [],
        ),
        (
            visit(
                5,
                "10:00",
                3,
                customerId=customers[1],
                services=[{"serviceId": services[0], "quantity": 3}],
                address={"line1": "500 W 2nd St", "city": "Austin", "region": "TX"},
            ),
            [],
        ),
    ]


_CREATE_APPOINTMENT = (
    "mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id } }"
)


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

        async def run(document: str, variables: dict[str, Any]) -> dict[str, Any]:
            result = await schema.execute(
                document, variable_values=variables, context_value=context
            )
            if result.errors:
                raise ApiError(f"demo seeding failed: {result.errors[0].message}")
            assert result.data is not None
            (answer,) = result.data.values()
            return dict(answer)

        ids: dict[str, list[str]] = {}
        for document, variables in SAMPLE:
            created = await run(document, variables)
            resource = document.split("Create", 1)[1].split("Input", 1)[0]
            ids.setdefault(snake(resource), []).append(created["id"])
        for input_, steps in _week(ids):
            appointment = (await run(_CREATE_APPOINTMENT, {"input": input_}))["id"]
            ids.setdefault("appointment", []).append(appointment)
            for step in steps:
                await run(*_transition(step, appointment))
        await seed_month(run, ids)
        await store.session.commit()
    finally:
        await store.close()
        await database.dispose()
    # The month's overdue estimate is the runner's to expire: its chore, once, now.
    await expire_estimates(settings)


def _transition(step: str, appointment_id: str) -> tuple[str, dict[str, Any]]:
    field = camel(APPOINTMENTS.action_field(step))
    if APPOINTMENTS.lifecycle is not None and APPOINTMENTS.lifecycle.named(step).reason:
        reason = "The customer postponed: the roof crane is not available this week."
        input_type = f"{pascal(step)}AppointmentInput"
        return (
            f"mutation($id: ID!, $input: {input_type}!) "
            f"{{ {field}(id: $id, input: $input) {{ id }} }}",
            {"id": appointment_id, "input": {"reason": reason}},
        )
    return f"mutation($id: ID!) {{ {field}(id: $id) {{ id }} }}", {"id": appointment_id}


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
