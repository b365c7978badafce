"""The supervisor with small real HTTP servers as children: kill -9 one, it is logged and
back; a child that ignores SIGTERM is killed after the grace; one that dies while starting
stops the start."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bench.stack import free_port
from launcher.child import ProcessSpec
from launcher.settings import Settings
from launcher.supervisor import StartFailed, Supervisor

SERVER = """
import http.server, signal, sys
if sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("serving", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def server(name: str, port: int, mode: str = "normal") -> ProcessSpec:
    return ProcessSpec(name, (sys.executable, "-c", SERVER, str(port), mode), dict(os.environ),
                       f"http://127.0.0.1:{port}/")


def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings.from_env({"CAREDESK_LOG_DIR": str(tmp_path)}),
                               stop_grace_seconds=1.0, start_timeout_seconds=20.0)


class Events(logging.Handler):
    """The supervisor's log records, and an asyncio event per awaited phrase."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.waiting: list[tuple[str, asyncio.Event]] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        self.lines.append(line)
        for phrase, event in self.waiting:
            if phrase in line:
                event.set()

    async def said(self, phrase: str, seconds: float = 20) -> str:
        event = asyncio.Event()
        self.waiting.append((phrase, event))
        if not any(phrase in line for line in self.lines):
            await asyncio.wait_for(event.wait(), seconds)
        return next(line for line in self.lines if phrase in line)


@pytest.fixture
async def events() -> AsyncIterator[Events]:
    handler = Events()
    logger = logging.getLogger("launcher")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


async def test_a_killed_child_is_logged_and_back_while_the_other_keeps_serving(tmp_path: Path, events: Events) -> None:
    first, second = server("first", free_port()), server("second", free_port())
    supervisor = Supervisor([[first], [second]], settings(tmp_path))
    async with aiohttp.ClientSession() as session:
        await supervisor.start(session, lambda spec: None)
        supervisor.watch(session)
        try:
            victim = supervisor.child("first")
            assert victim.process is not None
            old_pid = victim.process.pid
            os.kill(old_pid, signal.SIGKILL)
            exited = await events.said("exited unexpectedly")
            assert "first" in exited and str(old_pid) in exited and "killed by SIGKILL" in exited
            assert "restarting it now" in exited
            assert await supervisor.child("second").answers(session)  # untouched meanwhile
            back = await events.said("process is back")
            assert victim.process.pid != old_pid and f"pid {victim.process.pid}" in back
            assert await victim.answers(session)
        finally:
            await supervisor.stop()
    log = (tmp_path / "first.log").read_text()
    assert log.count("serving") == 2, "both runs' output is kept in one log"
    assert f"first (pid {old_pid}) exited: killed by SIGKILL" in log
    assert not supervisor.child("first").running and not supervisor.child("second").running


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    stubborn = server("stubborn", free_port(), "ignore-term")
    supervisor = Supervisor([[stubborn]], settings(tmp_path))
    async with aiohttp.ClientSession() as session:
        await supervisor.start(session, lambda spec: None)
        supervisor.watch(session)
        await supervisor.stop()
    process = supervisor.child("stubborn").process
    assert process is not None and process.returncode == -signal.SIGKILL


async def test_a_child_that_dies_while_starting_fails_the_start(tmp_path: Path, events: Events) -> None:
    broken = ProcessSpec("broken", (sys.executable, "-c", "print('no model'); raise SystemExit(3)"),
                         dict(os.environ), f"http://127.0.0.1:{free_port()}/")
    supervisor = Supervisor([[broken], [server("never", free_port())]], settings(tmp_path))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(StartFailed):
            await supervisor.start(session, lambda spec: None)
        await supervisor.stop()
    said = await events.said("exited while starting")
    assert "exit code 3" in said and "no model" in said
    assert [child.spec.name for child in supervisor.children] == ["broken"], "later stages never start"


FAKE_SPARE = """
import http.server, sys
print("launcher: spare ready", flush=True)
port = sys.stdin.readline().strip()
if port:
    print("serving as the replacement", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(port)), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


async def test_a_ready_spare_takes_over_the_dead_processs_port_and_log(tmp_path: Path, events: Events) -> None:
    port = free_port()
    rasa = dataclasses.replace(server("rasa", port), spare_port=port)
    spare = ProcessSpec("rasa-spare", (sys.executable, "-c", FAKE_SPARE), dict(os.environ), "")
    supervisor = Supervisor([[rasa]], settings(tmp_path), spare)
    async with aiohttp.ClientSession() as session:
        await supervisor.start(session, lambda spec: None)
        supervisor.watch(session)
        try:
            await events.said("spare Rasa process is ready")
            assert supervisor.spare is not None and supervisor.spare.process is not None
            spare_pid = supervisor.spare.process.pid
            victim = supervisor.child("rasa")
            assert victim.process is not None
            os.kill(victim.process.pid, signal.SIGKILL)
            assert f"pid {spare_pid}" in await events.said("takes over as the rasa")
            assert f"pid {spare_pid}" in await events.said("process is back")
            assert await victim.answers(session)
            assert sum("is loading the model" in line for line in events.lines) == 2, "a new spare is on its way"
        finally:
            await supervisor.stop()
    log = (tmp_path / "rasa.log").read_text()
    assert "serving as the replacement" in log and f"pid {spare_pid}, took over as rasa" in log
    assert "serving as the replacement" not in (tmp_path / "rasa-spare.log").read_text()
