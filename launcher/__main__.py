"""`python -m launcher`: what scripts/run.sh execs once it has prepared the environment."""
from __future__ import annotations

import asyncio
import logging
import os
import sys

import aiohttp

from launcher.child import ProcessSpec
from launcher.logfile import RotatingLog, RotatingLogHandler
from launcher.processes import announcement, banner, caredesk_stages, rasa_spare
from launcher.settings import Settings
from launcher.supervisor import StartFailed, Supervisor, install_signal_handlers

logger = logging.getLogger("launcher")


def configure_logging(settings: Settings) -> RotatingLogHandler:
    """Events to the terminal (time and text) and to supervisor.log (date, level, text)."""
    terminal = logging.StreamHandler(sys.stdout)
    terminal.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    to_file = RotatingLogHandler(RotatingLog(settings.log_dir / "supervisor.log", settings.log_max_bytes,
                                             settings.log_backups))
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("launcher")
    root.setLevel(logging.INFO)
    root.addHandler(terminal)
    root.addHandler(to_file)
    return to_file


def say(text: str) -> None:
    print(text, flush=True)


async def run(settings: Settings) -> int:
    supervisor = Supervisor(caredesk_stages(settings, os.environ), settings, rasa_spare(settings, os.environ))
    install_signal_handlers(supervisor)

    def announce(spec: ProcessSpec) -> None:
        if text := announcement(spec, settings):
            say(text)

    async with aiohttp.ClientSession() as session:
        try:
            await supervisor.start(session, announce)
        except StartFailed:
            await supervisor.stop()
            return 1
        if not supervisor.stopping:
            logger.info("CareDesk started: %s", ", ".join(
                f"{c.spec.name} (pid {c.process.pid})" for c in supervisor.children if c.process))
            say(banner(settings, os.environ))
            supervisor.watch(session)
            await supervisor.wait_for_stop()
        say("\nStopping CareDesk...")
        await supervisor.stop()
    say("CareDesk stopped.")
    logger.info("CareDesk stopped.")
    return 0


def main() -> None:
    os.umask(0o077)  # the logs hold customers' messages: owner only
    try:
        settings = Settings.from_env()
    except ValueError as error:
        sys.exit(f"launcher: {error}")
    handler = configure_logging(settings)
    try:
        code = asyncio.run(run(settings))
    finally:
        handler.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
