from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from asteri.models.base import TenantRow

__all__ = ["TeamMember"]


class TeamMember(TenantRow, table=True):
    __tablename__ = "team_members"
    __table_args__ = (
        UniqueConstraint("organization_id", "environment", "email", name="uq_team_members_email"),
        Index("ix_team_members_tenant_created", "organization_id", "environment", "created_at"),
    )

    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    role: str = Field(max_length=32)
    active: bool = True
