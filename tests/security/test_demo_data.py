"""Demo data stays out of real databases: `python -m caredesk.db migrate` (what `make run`,
`make migrate` and `make agent` run) adds the demo shop, with its VIP customer, only on the
embedded default (DATABASE_URL unset) or when DEMO_SHOP=true asks for it."""
from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from caredesk.db.models import Customer, Order
from caredesk.db.session import make_engine
from caredesk.settings import PROJECT_ROOT, async_database_url, demo_shop_wanted
from bench.stack import scratch_postgres

PYTHON = str(PROJECT_ROOT / ".venv" / "bin" / "python")
SERVER = os.environ.get("TEST_DATABASE_URL", "")


def migrate(database_url: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEMO_SHOP")}
    env.update(DATABASE_URL=database_url, SQLALCHEMY_SILENCE_UBER_WARNING="1", **settings)
    return subprocess.run([PYTHON, "-m", "caredesk.db", "migrate"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def demo_rows(database_url: str) -> tuple[int, int]:
    """(customers, orders) in the database."""
    async def count() -> tuple[int, int]:
        engine = make_engine(async_database_url(database_url))
        try:
            async with engine.connect() as connection:
                customers = await connection.scalar(select(func.count()).select_from(Customer))
                orders = await connection.scalar(select(func.count()).select_from(Order))
                return int(customers or 0), int(orders or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not SERVER.startswith("postgres"):
        pytest.skip("TEST_DATABASE_URL is not a PostgreSQL server")
    with scratch_postgres(SERVER, "demo") as url:
        yield url


def test_migrating_postgresql_adds_no_demo_customers(postgres_url: str) -> None:
    done = migrate(postgres_url)
    assert done.returncode == 0, done.stderr
    assert demo_rows(postgres_url) == (0, 0)
    assert "no demo shop" in done.stderr and "DEMO_SHOP=true" in done.stderr, "says how to get it"


def test_demo_shop_true_seeds_postgresql(postgres_url: str) -> None:
    done = migrate(postgres_url, DEMO_SHOP="true")
    assert done.returncode == 0, done.stderr
    assert demo_rows(postgres_url) == (3, 6)


def test_an_explicit_database_url_gets_no_demo_shop_even_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    assert migrate(url).returncode == 0
    assert demo_rows(url) == (0, 0)
    assert migrate(url, DEMO_SHOP="false").returncode == 0
    assert demo_rows(url) == (0, 0)
    assert migrate(url, DEMO_SHOP="true").returncode == 0
    assert demo_rows(url) == (3, 6)


def test_a_misspelt_demo_shop_stops_migrate_without_seeding(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    done = migrate(url, DEMO_SHOP="ture")
    assert done.returncode != 0 and "DEMO_SHOP must be true or false" in done.stderr
    assert "Traceback" not in done.stderr


def test_only_the_embedded_default_seeds_unasked() -> None:
    assert demo_shop_wanted({}) is True, "DATABASE_URL unset: the demo SQLite file gets the shop"
    assert demo_shop_wanted({"DEMO_SHOP": "false"}) is False, "DEMO_SHOP=false turns it off on SQLite too"
    assert demo_shop_wanted({"DATABASE_URL": "postgresql://shop@db/prod"}) is False
    assert demo_shop_wanted({"DATABASE_URL": "postgresql://shop@db/prod", "DEMO_SHOP": "TRUE"}) is True
    with pytest.raises(ValueError):
        demo_shop_wanted({"DEMO_SHOP": "maybe"})
