"""``last_used_at`` moves when a key is used, but is written at most once a minute per key."""

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import col

from asteri.app import create_app
from asteri.kit.settings import Settings
from asteri.models import ApiKey
from tests.factories import Api, Credential


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(settings: Settings, engine: Engine) -> Iterator[tuple[Api, Clock]]:
    """An app of its own whose usage throttle runs on a clock the test owns."""
    clock = Clock()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.app.state.key_usage.clock = clock  # type: ignore[attr-defined]
        yield Api(client=client, engine=engine, settings=settings), clock


def last_used(engine: Engine, cred: Credential) -> datetime | None:
    with engine.connect() as conn:
        value: datetime | None = conn.scalar(
            select(col(ApiKey.last_used_at)).where(col(ApiKey.public_id) == cred.key_id)
        )
        return value


def test_last_used_at_is_written_at_most_once_a_minute(clocked: tuple[Api, Clock]) -> None:
    api, clock = clocked
    cred = api.key()
    other = api.key(org=cred.organization_id)
    assert last_used(api.engine, cred) is None

    assert api.rest("GET", "/viewer", as_=cred).status_code == 200
    first = last_used(api.engine, cred)
    assert first is not None

    clock.now += 59  # within the minute: REST and GraphQL requests write nothing
    assert api.rest("GET", "/viewer", as_=cred).status_code == 200
    assert api.post("{ viewer { credentialId } }", as_=cred).status_code == 200
    assert last_used(api.engine, cred) == first
    assert last_used(api.engine, other) is None  # throttled per key, not globally

    clock.now += 1  # a minute after the write: the next request writes again
    assert api.rest("GET", "/viewer", as_=cred).status_code == 200
    moved = last_used(api.engine, cred)
    assert moved is not None
    assert moved > first


def test_failed_authentication_records_no_use(clocked: tuple[Api, Clock]) -> None:
    api, _ = clocked
    cred = api.key()
    other_org = api.org()
    wrong_org = Credential(other_org, cred.key, cred.key_id, "live")
    assert api.rest("GET", "/viewer", as_=wrong_org).status_code == 403
    assert api.rest("GET", "/viewer", headers={"x-api-key": cred.key}).status_code == 401
    assert last_used(api.engine, cred) is None
