from sqlmodel import Field

from asteri.models.base import TimestampedRow

__all__ = ["Organization"]


class Organization(TimestampedRow, table=True):
    __tablename__ = "organizations"

    name: str = Field(max_length=200)
