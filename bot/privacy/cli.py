"""The command line for privacy work (run on the server, so it acts as "cli" in the audit log):
    python -m bot privacy find   --email tom@example.com
    python -m bot privacy export --email tom@example.com [--out FILE]
    python -m bot privacy erase  --email tom@example.com [--yes]
    python -m bot purge [--days N]        (for cron; RETENTION_DAYS by default)
Instead of --email: --phone, --ticket, --conversation or --telegram (a chat id)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from caredesk.db.session import make_engine, make_sessions
from bot.privacy import retention
from bot.privacy.erase import ErasureBlocked, erase_customer
from bot.privacy.export import export_customer, overview
from bot.privacy.find import KINDS, BadQuery, Query, find_subject
from bot.privacy.tracker import make_tracker_engine
from bot.settings import Settings

ACTOR = "cli"


def add_commands(commands: Any) -> None:
    """Add `privacy find|export|erase` and `purge` to `python -m bot`'s subcommands."""
    privacy = commands.add_parser("privacy", help="find, export or erase one customer's data (admins)")
    actions = privacy.add_subparsers(dest="privacy_command", required=True)
    for name, text in (("find", "show what is kept about the customer"),
                       ("export", "write everything kept about the customer as JSON"),
                       ("erase", "erase the customer's conversations and personal data")):
        command = actions.add_parser(name, help=text)
        who = command.add_mutually_exclusive_group(required=True)
        for kind in KINDS:
            who.add_argument(f"--{kind}", help=f"the customer's {kind}" + (" chat id" if kind == "telegram" else ""))
        if name == "export":
            command.add_argument("--out", type=Path, help="file to write (default: standard output)")
        if name == "erase":
            command.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge = commands.add_parser("purge", help="erase conversations older than RETENTION_DAYS (for cron)")
    purge.add_argument("--days", type=int, help="the retention period (default: RETENTION_DAYS)")


def handles(args: argparse.Namespace) -> bool:
    return args.command in ("privacy", "purge")


def _query(args: argparse.Namespace) -> Query:
    kind = next(k for k in KINDS if getattr(args, k, None) is not None)
    return Query.parse(kind, getattr(args, kind))


async def _with_databases(settings: Settings, work: Callable[[Any, Any], Any]) -> Any:
    engine = make_engine(settings.database_url)
    tracker_engine = make_tracker_engine(settings.tracker_store_url) if settings.tracker_store_url else None
    try:
        return await work(make_sessions(engine), tracker_engine)
    finally:
        await engine.dispose()
        if tracker_engine is not None:
            await tracker_engine.dispose()


def _print(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False)
    out.write("\n")


async def _find(sessions: Any, tracker_engine: Any, query: Query) -> dict[str, Any]:
    async with sessions() as session:
        return await overview(session, await find_subject(session, query, tracker_engine), tracker_engine)


def run(args: argparse.Namespace, settings: Settings, *, stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout) -> int:
    """Carry out the command; the exit code."""
    if args.command == "purge":
        days = settings.retention_days if args.days is None else args.days
        if days <= 0:
            print("Retention is off (RETENTION_DAYS=0): nothing to purge.", file=stdout)
            return 0
        totals = asyncio.run(_with_databases(settings, lambda s, t: retention.purge(s, t, days)))
        print(f"Erased what was idle for more than {days} days: " + json.dumps(totals), file=stdout)
        return 0
    try:
        query = _query(args)
    except BadQuery as error:
        print(f"Cannot look that up: {error}.", file=sys.stderr)
        return 2
    if args.privacy_command == "find":
        _print(asyncio.run(_with_databases(settings, lambda s, t: _find(s, t, query))), stdout)
        return 0
    if args.privacy_command == "export":
        document = asyncio.run(_with_databases(settings, lambda s, t: export_customer(s, query, t, actor=ACTOR)))
        if args.out:
            with args.out.open("w", encoding="utf-8") as out:
                _print(document, out)
            print(f"Written to {args.out}.", file=stdout)
        else:
            _print(document, stdout)
        return 0
    found = asyncio.run(_with_databases(settings, lambda s, t: _find(s, t, query)))
    _print(found, stdout)
    if not found["found"]:
        print("Nothing found: nothing to erase.", file=stdout)
        return 0
    if not args.yes:
        print(f"This erases the above for good. Type the {query.kind} again to go on: ", end="", file=stdout)
        stdout.flush()
        if stdin.readline().strip().lower() != query.value.lower():
            print("Not confirmed; nothing was erased.", file=stdout)
            return 1
    try:
        erasure = asyncio.run(_with_databases(
            settings, lambda s, t: erase_customer(s, query, t, actor=ACTOR)))
    except ErasureBlocked as blocked:
        print("A person is handling these conversations; resolve them in the console first: "
              + ", ".join(blocked.conversation_ids), file=sys.stderr)
        return 1
    print(f"Erased (reference {erasure.reference}): " + json.dumps(erasure.counts), file=stdout)
    return 0
