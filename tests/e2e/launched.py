"""CareDesk started by `make run`'s real launcher (scripts/run.sh) for the fault-injection
tests, and what they check afterwards: whether a killed process answers again, and what the
database holds (every echoed line, every promised ticket, an answer after every line)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text

from caredesk.db.session import make_engine
from caredesk.settings import PROJECT_ROOT, async_database_url
from bench.clients import TIMEOUTS
from bench.stack import LOAD_CLIENT_LIMITS, ORIGIN, answers_tcp, free_port, migrate, scratch_postgres

ANSWERS = ("bot", "agent", "system")  # a line from any of them answers the customer's line before it
BACK_WITHIN = 10.0  # seconds: the promise docs/reliability.md makes for a killed process


@dataclass
class Launched:
    """The stack run.sh started: the launcher's pid (its process group) and where things are."""

    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(repr=False)
    app_db: str
    rasa_urls: list[str]
    gateway_url: str
    action_url: str
    log_dir: Path
    output: list[str] = field(default_factory=list)  # the launcher's terminal, line by line

    def health_url(self, name: str) -> str:
        if name == "gateway":
            return f"{self.gateway_url}/health"
        if name == "actions":
            return f"{self.action_url}/health"
        return f"{self.rasa_urls[0 if name == 'rasa' else int(name.split('-')[1])]}/"

    def pid_of(self, name: str) -> int:
        """The pid of the launcher's child called `name` (actions, rasa, rasa-1, gateway), as the
        launcher last announced it (a spare Rasa that took over has no port on its command line)."""
        pattern = re.compile(rf"(?<![\w-]){re.escape(name)} (?:process is back )?\(pid (\d+)")
        for line in reversed(list(self.output)):
            if "CareDesk started" in line or "is back" in line:
                if found := pattern.search(line):
                    return int(found.group(1))
        raise LookupError(f"the launcher named no {name} process")

    def said(self, phrase: str) -> list[str]:
        return [line for line in list(self.output) if phrase in line]

    async def until_said(self, phrase: str, seconds: float) -> str:
        """The launcher's first terminal line with `phrase`, once it is written (a thread reads
        the terminal, so this looks every 0.1 s)."""
        deadline = time.monotonic() + seconds
        while not (lines := self.said(phrase)):
            if time.monotonic() > deadline:
                raise AssertionError(f"the launcher did not say {phrase!r} within {seconds} s:\n"
                                     + "".join(self.output[-20:]))
            await asyncio.sleep(0.1)
        return lines[0]


def _databases(tmp_path: Path, cleanup: contextlib.ExitStack) -> tuple[str, str]:
    """PostgreSQL for both when the tests have a server (as production would), else SQLite."""
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgres"):
        return f"sqlite:///{tmp_path / 'caredesk.db'}", f"sqlite:///{tmp_path / 'tracker.db'}"
    return (cleanup.enter_context(scratch_postgres(server, "faults")),
            cleanup.enter_context(scratch_postgres(server, "faultstracker")))


def production_layout_here() -> bool:
    """Whether this machine can run the production layout: Redis and a PostgreSQL server."""
    return (answers_tcp("127.0.0.1", 6379) and os.environ.get("E2E_SINGLE_RASA", "") != "1"
            and os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"))


@contextlib.contextmanager
def launched_stack(tmp_path: Path, embedded: bool = False) -> Iterator[Launched]:
    """run.sh in its own process group on free ports: two Rasa processes with Redis locks when
    Redis answers (else one), PostgreSQL when TEST_DATABASE_URL is set (else SQLite);
    `embedded`: the embedded default whatever answers (one Rasa process, SQLite). The
    secrets are configured, so the test can speak to Rasa's channel as the gateway does."""
    with contextlib.ExitStack() as cleanup:
        if embedded:
            app_db, tracker_db = f"sqlite:///{tmp_path / 'caredesk.db'}", f"sqlite:///{tmp_path / 'tracker.db'}"
        else:
            app_db, tracker_db = _databases(tmp_path, cleanup)
        redis = (not embedded and answers_tcp("127.0.0.1", 6379)
                 and os.environ.get("E2E_SINGLE_RASA", "") != "1")
        rasa_port, processes = free_port(), 2 if redis else 1
        if processes == 2:
            rasa_port = two_free_ports()
        gateway_port, action_port = free_port(), free_port()
        env = {
            **os.environ, **dict(LOAD_CLIENT_LIMITS), "RASA_PROCESSES": str(processes), "RASA_PORT": str(rasa_port),
            "ACTION_PORT": str(action_port), "GATEWAY_PORT": str(gateway_port), "GATEWAY_HOST": "127.0.0.1",
            "DATABASE_URL": app_db, "TRACKER_STORE_URL": tracker_db, "REDIS_DB": "6", "LOCK_STORE": "in_memory",
            "CAREDESK_LOG_DIR": str(tmp_path / "log"), "GATEWAY_ALLOWED_ORIGINS": ORIGIN, "TELEGRAM_TOKEN": "",
            "RASA_TOKEN": secrets.token_urlsafe(24), "CAREDESK_CHANNEL_SECRET": secrets.token_urlsafe(24),
            "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24),
        }
        for name in ("ACTION_ENDPOINT_URL", "GATEWAY_PUBLIC_URL"):
            env.pop(name, None)
        migrate(env)
        process = subprocess.Popen([str(PROJECT_ROOT / "scripts" / "run.sh")], cwd=PROJECT_ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        stack = Launched(process, env, app_db, [f"http://127.0.0.1:{rasa_port + i}" for i in range(processes)],
                         f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{action_port}", tmp_path / "log")
        ready = threading.Event()
        reader = threading.Thread(target=_read_output, args=(stack, ready), daemon=True)
        reader.start()
        try:
            if not ready.wait(240) or process.poll() is not None:
                raise RuntimeError("run.sh did not start:\n" + "".join(stack.output))
            yield stack
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            reader.join(10)  # the pipe ends with the launcher's children
            assert process.stdout is not None
            process.stdout.close()


def two_free_ports() -> int:
    """A free port whose next one is free too (the launcher numbers its Rasa processes upwards)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", port + 1))
            return port
    raise RuntimeError("no two consecutive free ports")


def _read_output(stack: Launched, ready: threading.Event) -> None:
    assert stack.process.stdout is not None
    for raw in stack.process.stdout:
        line = raw.decode(errors="replace")
        stack.output.append(line)
        if "Press Ctrl-C to stop." in line:
            ready.set()
    ready.set()


async def back_within(stack: Launched, name: str, killed_pid: int, seconds: float = 30) -> float:
    """Seconds from now until `name` answers its health URL again, after the launcher noticed
    that the killed process is gone (so the answer is from its successor)."""
    began = time.monotonic()
    await stack.until_said(f"(pid {killed_pid}) exited unexpectedly", seconds)
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - began < seconds:
            with contextlib.suppress(aiohttp.ClientError, *TIMEOUTS, OSError):
                async with http.get(stack.health_url(name), timeout=aiohttp.ClientTimeout(total=1)) as response:
                    if response.status == 200:
                        return time.monotonic() - began
            await asyncio.sleep(0.05)
    raise AssertionError(f"the {name} was not back within {seconds} s:\n" + "".join(stack.output[-20:]))


async def other_rasa_answers(stack: Launched, name: str) -> bool:
    """A message straight to a Rasa process's channel (as the gateway sends it) gets a reply."""
    url = stack.health_url(name).rstrip("/") + "/webhooks/rest/webhook"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"sender": f"faults-{uuid.uuid4().hex[:12]}", "message": "hello"},
                             headers={"X-CareDesk-Channel-Secret": stack.env["CAREDESK_CHANNEL_SECRET"]},
                             timeout=aiohttp.ClientTimeout(total=10)) as response:
            return response.status == 200 and bool(await response.json())


async def _query(stack: Launched, sql: str, **params: Any) -> list[Any]:
    engine = make_engine(async_database_url(stack.app_db))
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text(sql), params)).all())
    finally:
        await engine.dispose()


async def lost_lines(stack: Launched, echoed: dict[str, str]) -> list[str]:
    """Of the client_ids customers saw echoed (each with its conversation), those that are not
    a stored customer line of that conversation."""
    rows = await _query(stack, "SELECT client_id, conversation_id FROM messages WHERE sender = 'customer' "
                               "AND client_id IS NOT NULL")
    stored = {(client_id, conversation_id) for client_id, conversation_id in rows}
    return [client_id for client_id, conversation_id in echoed.items() if (client_id, conversation_id) not in stored]


async def missing_tickets(stack: Launched, promised: set[str]) -> set[str]:
    """Of the ticket numbers customers were told, those with no row in `tickets`."""
    rows = await _query(stack, "SELECT number FROM tickets WHERE number IS NOT NULL")
    return promised - {number for (number,) in rows}


async def unanswered_lines(stack: Launched, conversations: set[str]) -> list[tuple[str, int, str]]:
    """Stored customer lines of these conversations that nobody answered: the next line of the
    conversation is not from the bot, an agent or the system (it is the customer's next line,
    or there is none). Exact for customers who wait for an answer before saying more, as the
    scripted ones do, and who leave a conversation once it is queued for a person."""
    rows = await _query(stack, """
        SELECT m.conversation_id, m.id, m.text,
               (SELECT n.sender FROM messages n WHERE n.conversation_id = m.conversation_id AND n.id > m.id
                ORDER BY n.id LIMIT 1) AS answered_by
        FROM messages m WHERE m.sender = 'customer'""")
    return [(conversation_id, line_id, line) for conversation_id, line_id, line, answered_by in rows
            if conversation_id in conversations and answered_by not in ANSWERS]


async def faults_not_cleared(stack: Launched, conversations: set[str]) -> list[str]:
    """Of these conversations, those still queued because the bot could not answer (a
    `bot_unavailable` hand-off that has not ended): with no agent to claim them, each must
    come back to the bot once the fault clears."""
    rows = await _query(stack, "SELECT conversation_id FROM handoffs WHERE reason = 'bot_unavailable' "
                               "AND status <> 'ended'")
    return sorted({conversation_id for (conversation_id,) in rows if conversation_id in conversations})
