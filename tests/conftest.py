"""Databases for the tests: a migrated SQLite file always, and PostgreSQL as well when
TEST_DATABASE_URL is set (.ci/run sets it when a server answers on 127.0.0.1:5432)."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker

from caredesk.company import Company, load_company
from caredesk.db.migrate import upgrade
from caredesk.db.models import Base
from caredesk.db.seed import seed_demo_shop
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import PROJECT_ROOT, async_database_url

if TYPE_CHECKING:
    from tests.e2e.servers import Stack

os.environ.setdefault("PTB_TIMEDELTA", "true")  # as scripts/env.sh and python -m bot set it

# Tuesday 24 November 2026, 10:00 in Berlin: inside business hours.
FIXED_NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.timezone.utc)

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def pytest_report_header() -> list[str]:
    from tests.e2e.servers import options

    tracker = "postgresql (scratch)" if os.environ.get("TEST_DATABASE_URL", "").startswith("postgres") else None
    return ["database backends: " + ", ".join(BACKENDS), "end-to-end stack: " + options(tracker).describe()]


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username,
        password=parsed.password, database=parsed.database,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database, once per backend for the whole test session."""
    if request.param == "sqlite":
        url = async_database_url(f"sqlite:///{tmp_path_factory.mktemp('db') / 'caredesk.db'}")
        upgrade(url, configure_logging=False)
        yield url
        return
    server = os.environ["TEST_DATABASE_URL"]
    name = f"caredesk_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = async_database_url(make_url(server).set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(url, configure_logging=False)
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker]:  # type: ignore[type-arg]
    """Session factory on the test database, seeded with the demo shop; emptied afterwards."""
    engine = make_engine(database_url)
    factory = make_sessions(engine)
    async with factory.begin() as session:
        await seed_demo_shop(session, now=FIXED_NOW)
    try:
        yield factory
    finally:
        async with factory.begin() as session:
            for table in reversed(Base.metadata.sorted_tables):
                await session.execute(delete(table))
        await engine.dispose()


@pytest.fixture(scope="session")
def company() -> Company:
    return load_company(PROJECT_ROOT / "company.yml")


@pytest.fixture
def domain() -> dict:
    import yaml

    return yaml.safe_load(Path(PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def rasa_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator["Stack"]:
    """The real action server and Rasa server(s), started once for all tests that need them."""
    from tests.e2e.servers import running_stack

    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
