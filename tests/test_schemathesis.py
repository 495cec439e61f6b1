"""Stateless schemathesis run of the REST facade against its own OpenAPI document.

Every operation of the generated OpenAPI document gets generated requests (valid and invalid),
sent in-process to the ASGI app with a real all-scopes key for a real organization (the
security center's, which refuse every key, with an owner's session instead). Bounded and
derandomized: the same cases on every run, on each backend. Except for deletes, an ``{id}``
names a real object of the organization, so updates and lifecycle actions run for real on
fuzzed input (deletes keep their random ids: the 404 path).
"""

from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from asteri.app import API_PREFIX, create_app
from asteri.kit.settings import Settings
from tests.factories import (
    Api,
    Bearer,
    Credential,
)
from tests.resources import RESOURCES

MAX_EXAMPLES = 15  # per operation, in the fuzzing phase
SEED = 20260101

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]

# The document does not depend on the database: generate it once, at collection. (Loading it
# from a backend-parametrized fixture with `schemathesis.pytest.from_fixture` would be the
# natural fit, but schemathesis 4.32.5's lazy loader writes `Function._nodeid`, which pytest 9.2
# no longer has: every such test fails with an AttributeError before sending a request.)
schema = schemathesis.openapi.from_dict(
    create_app(Settings(database_url="sqlite://")).openapi(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,  # hypothesis derandomize
                "database": "none",  # no .hypothesis directory, no replay of old failures
            },
        }
    ),
)


@pytest.fixture(scope="module")
def fuzz_app(settings: Settings) -> FastAPI:
    # A dedicated app on this backend's database: schemathesis runs the app's lifespan on its
    # own event loop (its pytest plugin ends it after each test), so it must not share the
    # session client's engine, which lives on the TestClient's loop.
    return create_app(settings)


# Collections only a key manager's session may call.
MANAGED = {case.collection for case in RESOURCES if case.manager}


def _one_of_each(api: Api, key: Credential, owner: Bearer) -> dict[str, str]:
    """One real object per collection, made in the fuzzed organization from each resource's
    sample (an API key of its own too: a fuzzed PATCH or revoke must not change the tenant's)."""
    ids = {}
    for case in RESOURCES:
        who = owner if case.manager else key
        ids[case.collection] = case.created_id(
            api.gql(case.create, {"input": case.create_input(api, who)}, as_=who)
        )
    return ids


@dataclass
class Tenant:
    key: Credential
    owner: Bearer  # a session of the organization's owner
    ids: dict[str, str]  # collection → a real object's id


@pytest.fixture(scope="module")
def tenant(settings: Settings, engine: Engine, client: TestClient) -> Tenant:
    api = Api(client=client, engine=engine, settings=settings)
    key = api.key()
    owner = api.session(org_key=key)
    return Tenant(key, owner, _one_of_each(api, key, owner))


@schema.parametrize()
def test_rest_facade_conforms_to_its_openapi(
    case: schemathesis.Case[Any], fuzz_app: FastAPI, tenant: Tenant
) -> None:
    collection = case.path.removeprefix(f"{API_PREFIX}/").split("/")[0]
    if "{id}" in case.path and case.method != "DELETE":
        case.path_parameters = {**(case.path_parameters or {}), "id": tenant.ids[collection]}
    # A valid credential for the organization it names, whatever was generated for these
    # headers: the operations are exercised past authentication.
    credential = tenant.owner if collection in MANAGED else tenant.key
    case.call_and_validate(app=fuzz_app, headers=credential.headers(), checks=CHECKS)
