"""What the webhook tests share: an app and a database of their own (a worker reads every
tenant's rows), endpoints registered through the API, and a worker driven pass by pass on an
injected clock."""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import col

from asteri.app import create_app
from asteri.authz.scopes import Scope
from asteri.kit.db import create_operator_engine, create_sync_engine, utcnow
from asteri.kit.settings import Settings
from asteri.models import Event
from asteri.models.webhook import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from asteri.webhooks.ids import message_id
from asteri.workers.webhooks import DeliveryPolicy, WebhookWorker
from tests.factories import Api, Credential

ROOT = Path(__file__).resolve().parent.parent

REST = "/api/public/v1"
HOOKS = [
    s.value
    for s in (Scope.MANAGE_WEBHOOKS, Scope.WRITE_CUSTOMERS, Scope.READ_CUSTOMERS, Scope.WRITE_TEAM)
]


@dataclass
class Clock:
    """The injected clock: the real time plus whatever the test has skipped ahead, so what
    a request stores at the real time is never in this clock's future."""

    skipped: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.skipped

    @property
    def now(self) -> datetime:
        return self()

    def advance(self, by: timedelta) -> None:
        self.skipped += by


@dataclass
class Hooks:
    """One module's webhook world: its API, its database and the workers it drives."""

    api: Api
    settings: Settings
    engine: Engine
    runner: asyncio.Runner
    workers: list[WebhookWorker] = field(default_factory=list)

    def key(self, **kwargs: Any) -> Credential:
        return self.api.key(scopes=HOOKS, **kwargs)

    def worker(self, clock: Callable[[], datetime] | None = None, **policy: Any) -> WebhookWorker:
        """A worker on an engine of its own, on a ``Clock`` of its own unless told."""
        engine = self.runner.run(_engine(self.settings.database_url))
        made = WebhookWorker(
            engine,
            self.settings,
            clock=clock or Clock(),
            policy=DeliveryPolicy(**policy),
        )
        self.workers.append(made)
        return made

    def tick(self, worker: WebhookWorker, passes: int = 1) -> int:
        return sum(self.runner.run(worker.tick()) for _ in range(passes))

    def register(
        self, cred: Credential, url: str, types: list[str], **extra: Any
    ) -> dict[str, Any]:
        answer = self.api.rest(
            "POST",
            "/webhook_endpoints",
            as_=cred,
            json={"url": url, "event_types": types, **extra},
        )
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made

    def deliveries(self, endpoint_id: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(WebhookDelivery)
                    .where(col(WebhookDelivery.endpoint_id) == _pk(conn, endpoint_id))
                    .order_by(col(WebhookDelivery.id))
                ).all()
            )

    def message_ids(self, endpoint_id: str, event_type: str) -> set[str]:
        """The ``webhook-id`` each of the endpoint's organization's ``event_type`` events
        must arrive with, derived from the events table (not from the deliveries)."""
        with self.engine.connect() as conn:
            org = conn.execute(
                select(col(WebhookEndpoint.organization_id)).where(
                    col(WebhookEndpoint.public_id) == endpoint_id
                )
            ).scalar_one()
            events = conn.execute(
                select(col(Event.public_id)).where(
                    col(Event.organization_id) == org, col(Event.type) == event_type
                )
            ).scalars()
            key = self.settings.key_pepper.get_secret_value().encode()
            return {message_id(event, endpoint_id, key=key) for event in events}

    @contextmanager
    def worker_process(self, **env: str) -> Iterator[subprocess.Popen[bytes]]:
        """``asteri worker`` in a process of its own on this world's database, with the
        secrets of these settings (so its message ids and signatures are the tests').
        Stopped at the end (SIGTERM) unless the test already ended it."""
        settings = self.settings
        environ = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ASTERI_DATABASE_URL": settings.database_url,
            "ASTERI_KEY_PEPPER": settings.key_pepper.get_secret_value(),
            "ASTERI_WEBHOOK_SECRET_KEY": settings.webhook_secret_key.get_secret_value(),
            "ASTERI_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
            **env,
        }
        environ.pop("ASTERI_REDIS_URL", None)
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(
                [sys.executable, "-c", "from asteri.cli import main; main()", "worker"],
                env=environ,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            try:
                yield process
            finally:
                if process.poll() is None:
                    process.terminate()
                code = process.wait(timeout=20)
                log.seek(0)
                # Ended by the test's SIGKILL, or gracefully by SIGTERM (exit 0).
                assert code in (0, -signal.SIGKILL), log.read().decode(errors="replace")

    def attempts(self, endpoint_id: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(DeliveryAttempt)
                    .where(col(DeliveryAttempt.endpoint_public_id) == endpoint_id)
                    .order_by(col(DeliveryAttempt.id))
                ).all()
            )


async def _engine(url: str) -> Any:
    return create_operator_engine(url)


def _pk(conn: Any, endpoint_id: str) -> int:
    found = conn.execute(
        select(col(WebhookEndpoint.id)).where(col(WebhookEndpoint.public_id) == endpoint_id)
    ).scalar_one()
    return int(found)


@contextmanager
def webhook_world(settings: Settings, database_url: str) -> Iterator[Hooks]:
    """An app on ``database_url`` that lets webhooks reach loopback (the test receiver)."""
    own = settings.model_copy(
        update={"database_url": database_url, "webhooks_allow_private_targets": True}
    )
    engine = create_sync_engine(database_url)
    with (
        asyncio.Runner() as runner,
        TestClient(create_app(own), raise_server_exceptions=False) as client,
    ):
        hooks = Hooks(Api(client=client, engine=engine, settings=own), own, engine, runner)
        try:
            yield hooks
        finally:
            for worker in hooks.workers:
                runner.run(worker.aclose())
                runner.run(worker.engine.dispose())
            engine.dispose()
