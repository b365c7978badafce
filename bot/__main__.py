"""`python -m bot` runs the gateway; `python -m bot create-agent USERNAME --name NAME` adds a
console account (the password is asked for, or read from standard input); `python -m bot
privacy find|export|erase` and `python -m bot purge` are in bot/privacy/cli.py."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys

from aiohttp import web

from actions.db.session import make_engine, make_sessions
from bot.app import create_app
from bot.console.auth import AgentExists, create_agent
from bot.privacy import cli as privacy_cli
from bot.settings import Settings


async def _create_agent(settings: Settings, username: str, name: str, password: str) -> None:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessions(engine).begin() as session:
            await create_agent(session, username, name, password)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the gateway (the default)")
    add = commands.add_parser("create-agent", help="add an agent account for the console")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="the name customers see, e.g. Dana")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    privacy_cli.add_commands(commands)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines contain the bot token
    settings = Settings.from_env()
    os.environ.setdefault("PTB_TIMEDELTA", "true")  # python-telegram-bot's coming default

    if privacy_cli.handles(args):
        sys.exit(privacy_cli.run(args, settings))

    if args.command == "create-agent":
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password (at least 10 characters): ")
            if getpass.getpass("Again: ") != password:
                sys.exit("The passwords differ.")
        try:
            asyncio.run(_create_agent(settings, args.username, args.name, password))
        except AgentExists:
            sys.exit(f"An agent called {args.username!r} exists already.")
        except ValueError as error:
            sys.exit(str(error).capitalize() + ".")
        print(f"Agent {args.username} ({args.name}) can now log in to the console.")
        return

    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, loop=_event_loop())


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: the same asyncio, with less CPU per socket event."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    main()
