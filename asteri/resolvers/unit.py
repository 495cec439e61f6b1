"""What every resolver function receives: the request's store, its caller and request id."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from asteri.authz.principal import Principal
from asteri.kit.db import RequestStore
from asteri.kit.rows import Rows

__all__ = ["UnitOfWork"]


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    """One transaction per request. Functions here add and flush; only the caller commits.

    Reads go through ``rows`` (plain rows, no ORM); writes through ``session``, which a
    request opens only when it writes."""

    store: RequestStore
    principal: Principal
    request_id: str | None

    @property
    def session(self) -> AsyncSession:
        return self.store.session

    @property
    def rows(self) -> Rows:
        return self.store.rows
