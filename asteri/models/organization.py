from sqlmodel import Field

from asteri.models.base import TimestampedRow

__all__ = ["Organization"]


class Organization(TimestampedRow, table=True):
    __tablename__ = "organizations"

    name: str = Field(max_length=200)
    # What its document numbers start with: ``EST-0001``, ``INV-0001`` (``resolvers/numbering``).
    estimate_prefix: str = Field(default="EST", max_length=12)
    invoice_prefix: str = Field(default="INV", max_length=12)
