"""Real databases, real app. Every test runs once per backend in ``ASTERI_TEST_BACKENDS``.

Each backend gets its own freshly created database (uniquely named on PostgreSQL), migrated
with Alembic, and dropped at the end. The PostgreSQL run uses the Redis rate limiter when
``ASTERI_TEST_REDIS_URL`` is set (under a key prefix of its own, deleted at the end), SQLite the
in-process one, so the whole suite exercises both limiters. Tests isolate themselves by
creating their own organizations: tenancy is exactly what keeps them apart.
"""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from asteri.app import create_app
from asteri.kit.db import create_sync_engine
from asteri.kit.settings import Settings
from asteri.migrations import upgrade
from tests.factories import GENEROUS, Api, redis_namespace, redis_test_url
from tests.receiver import Receiver, receiving
from tests.webhook_harness import Hooks, webhook_world


def _backends() -> list[str]:
    configured = os.environ.get("ASTERI_TEST_BACKENDS")
    if configured:
        return [b.strip() for b in configured.split(",") if b.strip()]
    return ["sqlite", "postgresql"] if os.environ.get("ASTERI_TEST_POSTGRES_URL") else ["sqlite"]


def _admin_url() -> str:
    url = os.environ.get("ASTERI_TEST_POSTGRES_URL")
    if not url:
        pytest.fail(
            "ASTERI_TEST_BACKENDS asks for postgresql but ASTERI_TEST_POSTGRES_URL is unset"
        )
    return url


def _pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """A new, migrated database on ``backend`` (uniquely named on PostgreSQL), dropped after."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'asteri-test.db'}"
        upgrade(url)
        yield url
        return
    if backend != "postgresql":
        pytest.fail(f"unknown backend {backend!r}")
    admin = _admin_url()
    name = f"asteri_test_{secrets.token_hex(6)}"
    # An unreachable server raises here and fails the run: it is never skipped.
    with psycopg.connect(_pg_conninfo(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(_pg_conninfo(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with fresh_database(request.param, Path(tmp_path_factory.mktemp("db"))) as url:
        yield url


@pytest.fixture(scope="module")
def own_database_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the module's own, on the session's backend: for tests whose workers read
    every tenant's rows, which the other tests' rows must not be."""
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    with fresh_database(backend, Path(tmp_path_factory.mktemp("own"))) as url:
        yield url


@pytest.fixture(scope="module")
def hooks(settings: Settings, own_database_url: str) -> Iterator[Hooks]:
    """The module's webhook world (``tests/webhook_harness.py``) on its own database."""
    with webhook_world(settings, own_database_url) as world:
        yield world


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on loopback (``tests/receiver.py``)."""
    with receiving() as made:
        yield made


@pytest.fixture(scope="session")
def settings(database_url: str) -> Iterator[Settings]:
    # Every TestClient request comes from one address ("testclient"), so the suite's many
    # deliberate 401s (and documents sent without a key) would spend its budgets: tests of
    # those limits set their own.
    base = Settings(
        database_url=database_url,
        auth_failures_per_minute=GENEROUS,
        anonymous_documents_per_minute=GENEROUS,
    )
    redis_url = redis_test_url()
    if redis_url is None or not database_url.startswith("postgresql"):
        yield base
        return
    with redis_namespace(redis_url) as prefix:
        yield base.model_copy(update={"redis_url": redis_url, "redis_prefix": prefix})


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_sync_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def api(client: TestClient, engine: Engine, settings: Settings) -> Api:
    return Api(client=client, engine=engine, settings=settings)
