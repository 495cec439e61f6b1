"""What every resolver function receives: the request's session, its caller and request id."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from asteri.authz.principal import Principal

__all__ = ["UnitOfWork"]


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    """One transaction per request. Functions here add and flush; only the caller commits."""

    session: AsyncSession
    principal: Principal
    request_id: str | None
