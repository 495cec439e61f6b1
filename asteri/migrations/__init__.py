"""Alembic migrations, run by ``asteri db upgrade`` and by the test suite on both backends."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from asteri.kit.db import sync_url

__all__ = ["alembic_config", "upgrade"]

HERE = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
