"""Starts Rasa with its secrets taken from the environment, never from the command line.

`rasa run --auth-token TOKEN` puts the token in /proc/<pid>/cmdline, which every local user
can read. `python -m engine.serve run --model ... --port ...` instead runs Rasa's own command
line entry point in this process, with `--auth-token $RASA_TOKEN` added to the argument list
Rasa parses (sys.argv), not to the one the operating system shows. Everything else is
passed to Rasa unchanged; `python -m engine.serve shell ...` works the same way.

Before handing over it checks the secrets the Rasa process needs (RASA_TOKEN for `run`, the
channel secret for the REST channel, the action server's token for endpoints.yml), so a
missing one stops it with one clear line instead of a traceback or, worse, an open door.
Rasa's built-in `rest` and `cmdline` channels are swapped for ones behind the channel secret
(engine/channel.py), so neither `rasa shell` nor a stray `rest:` opens an unguarded door.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping, Sequence

TOKEN_ENV = "RASA_TOKEN"
ACTION_TOKEN_ENV = "ACTION_SERVER_TOKEN"
CHANNEL_SECRET_ENV = "CAREDESK_CHANNEL_SECRET"
SECRET_OPTIONS = ("--auth-token", "-t", "--jwt-secret")


class LaunchError(RuntimeError):
    """A setting is missing or a secret was given on the command line."""


def rasa_argv(args: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """The argument list Rasa parses: ours, plus the HTTP API token from the environment."""
    if not args or args[0] not in ("run", "shell"):
        raise LaunchError("usage: python -m engine.serve run|shell [rasa options]")
    for arg in args:
        if arg.split("=", 1)[0] in SECRET_OPTIONS:
            raise LaunchError(f"{arg.split('=', 1)[0]} must not be on the command line; "
                              f"set {TOKEN_ENV} in the environment instead")
    missing = [name for name in (CHANNEL_SECRET_ENV, ACTION_TOKEN_ENV) if not environ.get(name)]
    if args[0] == "run" and "--enable-api" in args and not environ.get(TOKEN_ENV):
        missing.insert(0, TOKEN_ENV)
    if missing:
        raise LaunchError(f"{', '.join(missing)} not set: CareDesk's Rasa server needs "
                          f"{'it' if len(missing) == 1 else 'them'} (scripts/run.sh makes random ones)")
    argv = ["rasa", *args]
    if args[0] == "run" and environ.get(TOKEN_ENV):
        argv += ["--auth-token", environ[TOKEN_ENV]]
    return argv


def main() -> None:
    try:
        argv = rasa_argv(sys.argv[1:], os.environ)
    except LaunchError as error:
        sys.exit(f"engine.serve: {error}")
    from engine.channel import guard_builtin_channels
    from rasa.__main__ import main as rasa_main

    guard_builtin_channels(os.environ[CHANNEL_SECRET_ENV])

    sys.argv = argv  # what Rasa's argparse reads; /proc/<pid>/cmdline keeps the original
    rasa_main()


if __name__ == "__main__":
    main()
