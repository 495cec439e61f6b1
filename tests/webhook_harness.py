"""What the webhook tests share: an app and a database of their own (a worker reads every
tenant's rows), endpoints registered through the API, and a worker driven pass by pass on an
injected clock."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import col

from asteri.app import create_app
from asteri.authz.scopes import Scope
from asteri.kit.db import create_operator_engine, create_sync_engine, utcnow
from asteri.kit.settings import Settings
from asteri.models.webhook import DeliveryAttempt, WebhookDelivery
from asteri.workers.webhooks import DeliveryPolicy, WebhookWorker
from tests.factories import Api, Credential

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

    def worker(self, clock: Clock | None = None, **policy: Any) -> WebhookWorker:
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
    from asteri.models.webhook import WebhookEndpoint

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
