"""`python -m bot` agent commands: create-agent, set-role, deactivate, activate,
reset-password, list-agents. Passwords come from a prompt or standard input, never from the
command line (where `ps` and shell history would show them). Each change is audited with the
actor "cli"."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.session import make_engine, make_sessions
from bot.console import agents
from bot.console.roles import ROLES
from bot.settings import Settings

ACTOR = "cli"
COMMANDS = ("create-agent", "set-role", "deactivate", "activate", "reset-password", "list-agents")


def add_commands(commands: Any) -> None:
    """Add the agent commands to `python -m bot`'s subparsers."""
    add = commands.add_parser("create-agent", help="add an agent account for the console")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="the name customers see, e.g. Dana")
    add.add_argument("--role", choices=ROLES,
                     help="default: admin when there is no active admin yet, else agent")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    role = commands.add_parser("set-role", help="change an agent's role")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    for command, text in (("deactivate", "stop an agent signing in (ends their sessions)"),
                          ("activate", "let a deactivated agent sign in again")):
        commands.add_parser(command, help=text).add_argument("username")
    reset = commands.add_parser("reset-password", help="set a new password (ends the agent's sessions)")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    commands.add_parser("list-agents", help="list the console accounts and their roles")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password (at least 10 characters): ")
    if getpass.getpass("Again: ") != password:
        sys.exit("The passwords differ.")
    return password


async def _in_one_unit(settings: Settings, work: Callable[[AsyncSession], Awaitable[str]]) -> str:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessions(engine).begin() as session:
            return await work(session)
    finally:
        await engine.dispose()


async def _list(session: AsyncSession) -> str:
    rows = await agents.list_agents(session)
    if not rows:
        return "No agents yet: python -m bot create-agent USERNAME --name NAME"
    lines = [f"{'username':<24} {'role':<8} {'active':<6} name"]
    lines += [f"{a.username:<24} {a.role:<8} {'yes' if a.active else 'no':<6} {a.name}" for a in rows]
    return "\n".join(lines)


def run(settings: Settings, args: argparse.Namespace) -> None:
    """Run one agent command; errors end the process with a sentence, not a traceback."""
    command = args.command

    async def work(session: AsyncSession) -> str:
        if command == "create-agent":
            agent = await agents.add(session, args.username, args.name, password, args.role, ACTOR)
            return f"Agent {agent.username} ({agent.name}, role {agent.role}) can now log in to the console."
        if command == "set-role":
            agent = await agents.change(session, args.username, ACTOR, role=args.role)
            return f"{agent.username} is now {agent.role}."
        if command in ("deactivate", "activate"):
            agent = await agents.change(session, args.username, ACTOR, active=command == "activate")
            return f"{agent.username} is {'active' if agent.active else 'deactivated; their sessions have ended'}."
        if command == "reset-password":
            agent = await agents.reset_password(session, args.username, password, ACTOR)
            return f"{agent.username} has a new password; their sessions have ended."
        return await _list(session)

    password = _password(args.password_stdin) if command in ("create-agent", "reset-password") else ""
    try:
        print(asyncio.run(_in_one_unit(settings, work)))
    except agents.AgentError as error:
        sys.exit(str(error)[:1].upper() + str(error)[1:] + ".")
