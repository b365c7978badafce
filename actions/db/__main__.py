"""`python -m actions.db migrate` applies the migrations and seeds the demo shop."""
from __future__ import annotations

import argparse
import asyncio
import logging

from actions.db.models import utcnow
from actions.db.seed import seed_demo_shop
from actions.db.session import make_engine, make_sessions
from actions.settings import Settings

logger = logging.getLogger("actions.db")


async def _seed(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessions(engine).begin() as session:
            return await seed_demo_shop(session, now=utcnow())
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m actions.db")
    parser.add_argument("command", choices=["migrate", "seed"])
    parser.add_argument("--no-seed", action="store_true", help="migrate without demo data")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    settings = Settings.from_env()
    if args.command == "migrate":
        from actions.db.migrate import upgrade

        upgrade()
        if args.no_seed:
            return
    added = asyncio.run(_seed(settings))
    logger.info("Database ready (%r); %d demo orders added.", settings, added)


if __name__ == "__main__":
    main()
