"""`python -m caredesk.db migrate` applies the migrations, and adds the demo shop only where
it belongs: the embedded default database (DATABASE_URL unset) or when DEMO_SHOP=true.
`python -m caredesk.db seed` adds the demo shop to whatever DATABASE_URL names, on request."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from caredesk.db.models import utcnow
from caredesk.db.seed import seed_demo_shop
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import Settings, demo_shop_wanted

logger = logging.getLogger("caredesk.db")


async def _seed(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessions(engine).begin() as session:
            return await seed_demo_shop(session, now=utcnow())
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m caredesk.db")
    parser.add_argument("command", choices=["migrate", "seed"])
    parser.add_argument("--no-seed", action="store_true", help="migrate without demo data, whatever DEMO_SHOP says")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    settings = Settings.from_env()
    try:
        wanted = demo_shop_wanted(os.environ)
    except ValueError as error:
        sys.exit(str(error))
    if args.command == "migrate":
        from caredesk.db.migrate import upgrade

        upgrade()
        if args.no_seed or not wanted:
            logger.info("Database ready (%r); no demo shop (%s).", settings,
                        "--no-seed" if args.no_seed else
                        "DEMO_SHOP=false" if os.environ.get("DEMO_SHOP") else
                        "DATABASE_URL is set; DEMO_SHOP=true adds it")
            return
    added = asyncio.run(_seed(settings))
    logger.info("Database ready (%r); %d demo orders added.", settings, added)


if __name__ == "__main__":
    main()
