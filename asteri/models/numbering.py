"""Document numbers: one counter per (organization, environment, kind of document)."""

from sqlmodel import Field, SQLModel

__all__ = ["DocumentCounter"]


class DocumentCounter(SQLModel, table=True):
    """The last number issued for one kind of document (``estimate``, ``invoice``) in one
    tenant. Issuing takes the row's lock until the issuing transaction ends, so numbers run
    without gaps or duplicates (``resolvers/numbering.py``)."""

    __tablename__ = "document_counters"

    organization_id: int = Field(foreign_key="organizations.id", primary_key=True)
    environment: str = Field(max_length=8, primary_key=True)
    kind: str = Field(max_length=16, primary_key=True)
    last_number: int = 0
