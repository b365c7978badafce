"""`python -m bot` runs the gateway; `python -m bot create-agent USERNAME --name NAME [--role
ROLE]` adds a console account (the password is asked for, or read from standard input), and
set-role, deactivate, activate, reset-password and list-agents manage them (bot/cli.py);
`python -m bot privacy find|export|erase` and `python -m bot purge` are in bot/privacy/cli.py."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from aiohttp import web

from bot import cli
from bot.app import create_app
from bot.privacy import cli as privacy_cli
from bot.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the gateway (the default)")
    cli.add_commands(commands)
    privacy_cli.add_commands(commands)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines contain the bot token
    settings = Settings.from_env()
    os.environ.setdefault("PTB_TIMEDELTA", "true")  # python-telegram-bot's coming default

    if privacy_cli.handles(args):
        sys.exit(privacy_cli.run(args, settings))
    if args.command in cli.COMMANDS:
        cli.run(settings, args)
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
