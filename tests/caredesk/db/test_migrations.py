"""The migrations build exactly the schema the models describe, on every backend."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from caredesk.db.models import Base
from caredesk.db.session import make_engine


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            def diff(sync_connection):
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return compare_metadata(context, Base.metadata)

            differences = await connection.run_sync(diff)
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert differences == []
    assert {"customers", "orders", "tickets", "ticket_events", "handoffs", "feedback"} <= tables


async def test_sqlite_runs_in_wal_mode_with_normal_sync(tmp_path) -> None:
    from caredesk.db.migrate import upgrade_async
    from caredesk.settings import async_database_url

    url = async_database_url(f"sqlite:///{tmp_path / 'wal.db'}")
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
            synchronous = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar()
    finally:
        await engine.dispose()
    assert mode == "wal" and synchronous == 1  # 1 = NORMAL
