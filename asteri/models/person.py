from datetime import datetime

from sqlmodel import Field

from asteri.models.base import TimestampedRow, utc_field

__all__ = ["BearerSession", "Person"]


class Person(TimestampedRow, table=True):
    """Someone who signs in to the first-party frontend. They belong to an organization
    through a team member record there with the same email (one per organization)."""

    __tablename__ = "people"

    email: str = Field(max_length=320, unique=True)  # lower-cased


class BearerSession(TimestampedRow, table=True):
    """One signed-in session: the bearer token names it (``sid``), so it can be revoked
    before the token expires. The organization is chosen per request (``x-organization-id``)."""

    __tablename__ = "bearer_sessions"

    person_id: int = Field(foreign_key="people.id", index=True)
    environment: str = Field(max_length=8)
    # The team member the session was issued for (audit: who signed in where).
    issued_for: str = Field(max_length=40)
    expires_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)
