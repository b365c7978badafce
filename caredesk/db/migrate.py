"""Bring a database to the newest schema with Alembic, from code (make migrate, the tests)."""
from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config

from caredesk.settings import PROJECT_ROOT


def alembic_config(database_url: str | None = None, *, configure_logging: bool = True) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["configure_logging"] = configure_logging
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None, *, configure_logging: bool = True) -> None:
    """Alembic's env.py runs its own event loop, so call this from synchronous code."""
    command.upgrade(alembic_config(database_url, configure_logging=configure_logging), "head")


async def upgrade_async(database_url: str | None = None) -> None:
    await asyncio.to_thread(upgrade, database_url, configure_logging=False)
