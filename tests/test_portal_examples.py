"""Every REST operation page's curl example, run as the portal shows it against a live server.

The example names well-formed example ids (``cus_…``, ``evt_…``: ``crud.example_id``), as a
reader's would name their own: here each becomes an object made for the run in the caller's
organization (the object in the path brought first to a state the operation starts from, as
``factories.steps_to`` says), and ``$KEY``, ``$TOKEN`` and ``$ORG`` are the caller's. The
command then runs in bash with curl, failing on any HTTP error."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from asteri.app import create_app
from asteri.kit.settings import Settings
from asteri.portal.index import OperationDoc, build_index
from asteri.portal.pages import DOCUMENTED_HOST, curl_example
from asteri.resolvers.crud import Resource, example_event_id, example_id
from asteri.resolvers.registry import logs, resources
from tests.factories import Api, Credential, bring_to, created_event, log_entry, steps_to
from tests.resources import RESOURCES
from tests.servers import serving

OPERATIONS = build_index().operations
_BY_TAG = {r.collection.replace("_", " "): r for r in resources()}
_CASES = {case.name: case for case in RESOURCES}


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def openapi(settings: Settings) -> dict[str, Any]:
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def _made(api: Api, resource: Resource, key: Credential, state: str | None) -> str:
    """A new object of ``resource`` in ``key``'s organization (by whoever may write it),
    brought to ``state`` if one is asked."""
    case = _CASES[resource.name]
    maker = case.credential(api, org=key.organization_id) if case.manager else key
    made = case.created_id(
        api.gql(case.create, {"input": case.create_input(api, maker)}, as_=maker)
    )
    if state is not None:
        bring_to(api, resource, maker, made, state)
    return made


def _substituted(api: Api, op: OperationDoc, command: str, key: Credential) -> str:
    """``command`` with each example id it names replaced by an object made for it: the one in
    its path at a state the operation starts from, the others as its resource's sample needs
    them (``Resource.refers_to``: a payment's invoice is open)."""
    own = _BY_TAG.get(op.tag)
    for resource in resources():
        if resource is own and "{id}" in op.path:
            action = op.path.rsplit("/", 1)[-1]
            steps = steps_to(resource, action) if op.kind == "action" else []
            made = _made(api, resource, key, steps[-1].target if steps else None)
            command = command.replace(example_id(resource), made)
        elif example_id(resource) in command or example_event_id(resource) in command:
            state = own.refers_to.get(resource.name) if own is not None else None
            made = _made(api, resource, key, state)
            command = command.replace(example_id(resource), made)
            command = command.replace(
                example_event_id(resource), created_event(api, resource, made)
            )
    for log in logs():
        if example_id(log) in command:
            command = command.replace(example_id(log), log_entry(api, log, key))
    return command


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_every_operation_pages_example_runs(
    api: Api, base_url: str, openapi: dict[str, Any], op: OperationDoc
) -> None:
    entry = openapi["paths"][op.base_path + op.path][op.method.lower()]
    schemas = openapi.get("components", {}).get("schemas", {})
    key = api.key()
    command = _substituted(api, op, curl_example(op, entry, schemas), key)
    token = api.session(org_key=key).key if op.roles else ""
    bash, curl = shutil.which("bash"), shutil.which("curl")
    assert bash is not None
    assert curl is not None
    script = (
        "set -euo pipefail\n"
        'curl() { command curl --fail-with-body --silent --show-error "$@" && echo; }\n'
        + command.replace(DOCUMENTED_HOST, base_url)
    )
    done = subprocess.run(
        [bash, "-c", script],
        capture_output=True,
        text=True,
        env={
            "KEY": key.key,
            "TOKEN": token,
            "ORG": key.organization_id,
            "PATH": os.environ["PATH"],
        },
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
