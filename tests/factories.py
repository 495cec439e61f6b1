"""Factories and the HTTP helper tests use. Keyword-only arguments, real rows, real requests."""

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

import httpx2 as httpx
import redis
from fastapi.testclient import TestClient
from graphql import GraphQLEnumType
from sqlalchemy import Engine, select
from sqlmodel import col

from asteri.admin import KeyRequest, create_key, create_organization
from asteri.authz.scopes import Scope
from asteri.authz.sessions import issue_session
from asteri.kit.db import create_operator_engine, utcnow
from asteri.kit.ids import IdPrefix, new_public_id
from asteri.kit.naming import camel, graphql_enum, pascal, rest_enum, snake
from asteri.kit.settings import Settings
from asteri.models import Environment, Event, Organization
from asteri.models.webhook import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from asteri.resolvers.crud import Log, Resource, SampleContext
from asteri.resolvers.customer import CUSTOMERS
from asteri.resolvers.lifecycle import Transition
from asteri.resolvers.service import SERVICES
from asteri.resolvers.team_member import TEAM_MEMBERS
from asteri.resolvers.webhook_endpoint import WEBHOOK_ENDPOINTS
from asteri.rest_facade.types import rest_value
from asteri.schema import build_schema

REST = "/api/public/v1"
GRAPHQL = f"{REST}/graphql"
ALL_SCOPES = [s.value for s in Scope]
GENEROUS = 1_000_000_000
DAY = 86_400  # seconds


def redis_test_url() -> str | None:
    """``ASTERI_TEST_REDIS_URL``: when set, Redis must be reachable (a failure, never a skip)."""
    return os.environ.get("ASTERI_TEST_REDIS_URL") or None


@contextmanager
def redis_namespace(url: str) -> Iterator[str]:
    """A key prefix of this run's own on a real Redis; every key under it is deleted after."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()  # unreachable → ConnectionError: the test errors, it is not skipped
        prefix = f"asteri-test:{secrets.token_hex(6)}:"
        yield prefix
        for name in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(name)
    finally:
        client.close()


def org_pk(engine: Engine, organization_id: str) -> int:
    """An organization's internal key, read as the operator (tests' assertions only)."""
    with engine.connect() as connection:
        pk = connection.scalar(
            select(col(Organization.id)).where(col(Organization.public_id) == organization_id)
        )
    assert pk is not None, organization_id
    return int(pk)


@dataclass
class Credential:
    organization_id: str
    key: str
    key_id: str
    environment: str

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key, "x-organization-id": self.organization_id}


@dataclass
class Bearer(Credential):
    """A person's session in one organization: ``key`` is the token, ``key_id`` the id of
    their team member record there, whose role decides what they may do."""

    role: str = "owner"

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}", "x-organization-id": self.organization_id}


@dataclass
class Api:
    client: TestClient
    engine: Engine
    settings: Settings
    _orgs: dict[str, str] = field(default_factory=dict)

    def org(self, *, name: str | None = None) -> str:
        org = create_organization(self.engine, name or f"Org {secrets.token_hex(4)}")
        return org.public_id

    def key(
        self,
        *,
        org: str | None = None,
        scopes: list[str] | None = None,
        environment: str = "live",
        expires_in: timedelta = timedelta(days=1),
        persisted_only: bool = False,
        per_minute: int = GENEROUS,
        per_day: int = GENEROUS,
    ) -> Credential:
        """A key with limits no ordinary test reaches (rate-limit tests pass their own)."""
        org = org or self.org()
        issued = create_key(
            self.engine,
            KeyRequest(
                organization_id=org,
                scopes=ALL_SCOPES if scopes is None else scopes,
                environment=Environment(environment),
                expires_in=expires_in,
                name="test key",
                persisted_only=persisted_only,
                per_minute=per_minute,
                per_day=per_day,
            ),
            pepper=self.settings.key_pepper.get_secret_value(),
        )
        return Credential(org, issued.secret, issued.record.public_id, environment)

    def session(self, *, role: str = "owner", org_key: Credential | None = None) -> Bearer:
        """A signed-in team member of ``role`` in the organization of ``org_key`` (which needs
        ``write:team`` to add them; a new organization and key by default)."""
        setup = org_key or self.key()
        suffix = secrets.token_hex(4)
        created = self.rest(
            "POST",
            "/team_members",
            as_=setup,
            json={
                "name": f"{role} {suffix}",
                "email": f"{role}-{suffix}@example.com",
                "role": role,
            },
        )
        assert created.status_code == 201, created.text
        member = str(created.json()["id"])
        secret = self.settings.session_secret.get_secret_value()
        issued = issue_session(self.engine, member, ttl=timedelta(hours=1), secret=secret)
        return Bearer(setup.organization_id, issued.token, member, setup.environment, role)

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: Credential | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = {**(as_.headers() if as_ else {}), **(headers or {})}
        return self.client.post(
            GRAPHQL, json={"query": query, "variables": variables}, headers=sent
        )

    def rest(
        self,
        method: str,
        path: str,
        *,
        as_: Credential | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Call the REST facade (``path`` below ``/api/public/v1``)."""
        sent = {**(as_.headers() if as_ else {}), **(headers or {})}
        return self.client.request(method, f"{REST}{path}", json=json, params=params, headers=sent)

    def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: Credential
    ) -> dict[str, Any]:
        """Run an operation that must succeed; return its data."""
        response = self.post(query, variables, as_=as_)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def error(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: Credential | None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Run an operation that must fail; return the HTTP status and the first error."""
        response = self.post(query, variables, as_=as_, headers=headers)
        body = response.json()
        assert body.get("errors"), body
        return response.status_code, body["errors"][0]


CREATE_CUSTOMER = """
mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    id displayName givenName familyName company tags notes archived createdAt updatedAt
    emails { address label primary } phones { number label primary }
    addresses { line1 line2 city region postalCode country label primary }
  }
}"""


@cache
def _enum_names() -> frozenset[str]:
    schema = build_schema()._schema
    return frozenset(
        value
        for type_ in schema.type_map.values()
        if isinstance(type_, GraphQLEnumType) and not type_.name.startswith("__")
        for value in type_.values
    )


def rest_view(value: Any) -> Any:
    """GraphQL data as the REST facade spells it: snake_case keys, and every string that is
    one of the schema's enum values through ``rest_enum`` (to compare both surfaces)."""
    if isinstance(value, dict):
        return {snake(k): rest_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rest_view(v) for v in value]
    if isinstance(value, str) and value in _enum_names():
        return rest_enum(value)
    return value


_PER_REQUEST = {"remaining", "resets_in", "resetsIn"}  # a rate-limit window, as each call left it


def without_pacing(value: Any) -> Any:
    """``value`` with what each request changes by being counted (a window's remaining budget
    and reset time, in ``viewer.rateLimits``) replaced by a placeholder."""
    if isinstance(value, dict):
        return {
            k: "<per request>" if k in _PER_REQUEST else without_pacing(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_pacing(v) for v in value]
    return value


def graphql_view(value: Any) -> Any:
    """A REST body or query value as GraphQL variables spell it: the inverse of ``rest_view``."""
    if isinstance(value, dict):
        return {camel(k): graphql_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [graphql_view(v) for v in value]
    if isinstance(value, str) and value == value.lower() and graphql_enum(value) in _enum_names():
        return graphql_enum(value)
    return value


def rest_input(type_name: str, value: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL-spelled input (a sample) as a REST body: exactly as the OpenAPI examples."""
    body: dict[str, Any] = rest_value(build_schema()._schema.get_type(type_name), value)
    return body


def action_body(
    resource: Resource, action: str, context: SampleContext | None = None
) -> dict[str, Any]:
    """The REST body of an action's (or a transition's) sample input."""
    sample = resource.action_input(action, context)
    return rest_input(f"{pascal(action)}{resource.type_name}Input", sample)


def steps_to(resource: Resource, action: str) -> list[Transition]:
    """The fewest transitions that bring a new object to a state ``action`` (a transition or
    another action) may start from: none when it may start from the first."""
    lifecycle = resource.lifecycle
    if lifecycle is None:
        return []
    names = {t.name: t for t in lifecycle.transitions}
    sources = names[action].sources if action in names else resource.action_sources.get(action)
    if sources is None:
        return []
    reachable = lifecycle.paths()
    return min((reachable[s] for s in sources if s in reachable), key=len)


def bring_to(api: Api, resource: Resource, cred: Credential, public_id: str, state: str) -> None:
    """Take a new object of ``resource`` to ``state`` by the fewest transitions, on GraphQL
    (each with its sample input, if it takes one)."""
    assert resource.lifecycle is not None, f"{resource.name} has no states"
    for step in resource.lifecycle.paths()[state]:
        name = camel(resource.action_field(step.name))
        if step.input is None:
            document = f"mutation($id: ID!) {{ {name}(id: $id) {{ id }} }}"
            variables: dict[str, Any] = {"id": public_id}
        else:
            kind = f"{pascal(step.name)}{resource.type_name}Input"
            document = (
                f"mutation($id: ID!, $input: {kind}!) {{ {name}(id: $id, input: $input) {{ id }} }}"
            )
            variables = {"id": public_id, "input": resource.action_input(step.name)}
        api.gql(document, variables, as_=cred)


def created_event(api: Api, resource: Resource, public_id: str) -> str:
    """The id of the event its create recorded for the object ``public_id`` of ``resource``."""
    with api.engine.connect() as connection:
        found = connection.execute(
            select(col(Event.public_id)).where(
                col(Event.resource_id) == public_id,
                col(Event.type) == f"{resource.name}.{resource.created}",
            )
        ).scalar_one()
    return str(found)


def sample_context(
    api: Api, cred: Credential, *, distinct: str | None = None, of: Resource | None = None
) -> SampleContext:
    """How the tests make a sample input (of ``of``): unique values made unique
    (``distinct``, random by default), and each object it refers to (an appointment's
    customer) made from its own resource's sample, in ``cred``'s organization and environment,
    by a key that may write it, and brought to the state ``of`` needs it in
    (``Resource.refers_to``: a payment's invoice is open)."""
    maker: list[Credential] = []

    def id_of(other: Resource) -> str:
        """Made with the same ``distinct``: what the sample copies from it (a catalog line's
        name) is as distinct as the sample's own values."""
        if not maker:
            maker.append(api.key(org=cred.organization_id, environment=cred.environment))
        made = create_object(api, other, maker[0], distinct=suffix)
        state = None if of is None else of.refers_to.get(other.name)
        if state is not None:
            bring_to(api, other, maker[0], made, state)
        return made

    def event_of(other: Resource) -> str:
        return created_event(api, other, id_of(other))

    suffix = f"-{secrets.token_hex(3)}" if distinct is None else distinct
    return SampleContext(distinct=suffix, id_of=id_of, event_of=event_of)


def sample_input(
    api: Api, resource: Resource, cred: Credential, *, distinct: str | None = None, **fields: Any
) -> dict[str, Any]:
    """The resource's one sample input (``sample_context``), with ``fields`` over it."""
    context = sample_context(api, cred, distinct=distinct, of=resource)
    return {**resource.sample_input(context), **fields}


def create_object(
    api: Api, resource: Resource, cred: Credential, *, distinct: str | None = None, **fields: Any
) -> str:
    """A new object of ``resource`` from its sample (``fields`` over it); its id."""
    t = resource.type_name
    document = f"mutation($input: Create{t}Input!) {{ create{t}(input: $input) {{ id }} }}"
    input_ = sample_input(api, resource, cred, distinct=distinct, **fields)
    return str(api.gql(document, {"input": input_}, as_=cred)[f"create{t}"]["id"])


def log_entry(api: Api, log: Log, cred: Credential) -> str:
    """A new entry of ``log`` in ``cred``'s tenant; its id. A customer's create writes its
    audit entry and its event; a delivery attempt of that event is recorded as the worker
    records one (the tests of the worker itself deliver to a real receiver)."""
    maker = api.key(org=cred.organization_id, environment=cred.environment)
    customer = create_object(api, CUSTOMERS, maker)
    with api.engine.connect() as connection:
        event = connection.execute(select(Event).where(col(Event.resource_id) == customer)).one()
    if log.model is Event:
        return str(event.public_id)
    if log.model is not DeliveryAttempt:
        assert event.audit_entry_id is not None
        return str(event.audit_entry_id)
    made = api.gql(
        "mutation($input: CreateWebhookEndpointInput!) {"
        " createWebhookEndpoint(input: $input) { webhookEndpoint { id } } }",
        {"input": sample_input(api, WEBHOOK_ENDPOINTS, maker)},
        as_=maker,
    )
    endpoint_id = made["createWebhookEndpoint"]["webhookEndpoint"]["id"]
    now = utcnow()
    with api.engine.begin() as connection:
        endpoint = connection.execute(
            select(col(WebhookEndpoint.id)).where(col(WebhookEndpoint.public_id) == endpoint_id)
        ).scalar_one()
        tenant = {"organization_id": event.organization_id, "environment": event.environment}
        delivery = connection.execute(
            WebhookDelivery.__table__.insert()  # type: ignore[attr-defined]
            .values(
                public_id=new_public_id(IdPrefix.WEBHOOK_DELIVERY),
                endpoint_id=endpoint,
                event_id=event.id,
                status="succeeded",
                trigger="event",
                attempts=1,
                step=1,
                last_attempt_at=now,
                last_response_status=204,
                created_at=now,
                updated_at=now,
                **tenant,
            )
            .returning(WebhookDelivery.__table__.c.id)  # type: ignore[attr-defined]
        ).scalar_one()
        attempt_id = new_public_id(IdPrefix.WEBHOOK_ATTEMPT)
        connection.execute(
            DeliveryAttempt.__table__.insert().values(  # type: ignore[attr-defined]
                public_id=attempt_id,
                delivery_id=delivery,
                endpoint_public_id=endpoint_id,
                event_public_id=event.public_id,
                event_type=event.type,
                message_id=new_public_id("msg"),
                number=1,
                trigger="event",
                outcome="succeeded",
                response_status=204,
                duration_ms=12,
                attempted_at=now,
                created_at=now,
                **tenant,
            )
        )
    return attempt_id


Chore = Callable[..., Awaitable[int]]


def run_chore(settings: Settings, chore: Chore, snapshot: Any, *, passes: int = 2) -> list[int]:
    """A background chore (``expire_overdue``, ``mark_overdue``) run ``passes`` times now, as
    the runner runs it: each pass one transaction on the operator engine. How many rows each
    pass changed."""

    async def run() -> list[int]:
        engine = create_operator_engine(settings.database_url)
        try:
            done = []
            for _ in range(passes):
                async with engine.begin() as conn:
                    done.append(await chore(conn, snapshot, now=utcnow()))
            return done
        finally:
            await engine.dispose()

    return asyncio.run(run())


def create_customer(api: Api, cred: Credential, **fields: Any) -> dict[str, Any]:
    input_ = sample_input(api, CUSTOMERS, cred, **fields)
    data = api.gql(CREATE_CUSTOMER, {"input": input_}, as_=cred)
    customer: dict[str, Any] = data["createCustomer"]
    return customer


CREATE_TEAM_MEMBER = """
mutation($input: CreateTeamMemberInput!) {
  createTeamMember(input: $input) { id name email role active createdAt updatedAt }
}"""


def create_team_member(api: Api, *, as_: Credential, **fields: Any) -> dict[str, Any]:
    input_ = sample_input(api, TEAM_MEMBERS, as_, **fields)
    data = api.gql(CREATE_TEAM_MEMBER, {"input": input_}, as_=as_)
    member: dict[str, Any] = data["createTeamMember"]
    return member


CREATE_SERVICE = """
mutation($input: CreateServiceInput!) {
  createService(input: $input) {
    id name description unitPrice { amount currency } durationMinutes
    taxable bookableOnline active createdAt updatedAt
  }
}"""


def create_service(api: Api, *, as_: Credential, **fields: Any) -> dict[str, Any]:
    input_ = sample_input(api, SERVICES, as_, **fields)
    data = api.gql(CREATE_SERVICE, {"input": input_}, as_=as_)
    service: dict[str, Any] = data["createService"]
    return service
