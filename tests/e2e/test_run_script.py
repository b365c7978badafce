"""`make run`'s launcher (scripts/run.sh) the way a team runs it in production: two Rasa
processes behind the gateway with their conversation locks in Redis (one process where this
machine has no Redis, which the script must say), a chat through the gateway's WebSocket,
and Ctrl-C stopping everything. Logs are appended to (an earlier run's stay) and owner-only.
Restarting a killed process is tests/e2e/test_faults.py's subject."""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from caredesk.settings import PROJECT_ROOT
from bench.stack import answers_tcp, free_port, migrate, scratch_postgres
from tests.e2e.launched import two_free_ports

pytestmark = pytest.mark.e2e
ORIGIN = "http://run-script.caredesk.test"


@contextlib.contextmanager
def databases(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """PostgreSQL for both when the tests have a server (as production would), else SQLite."""
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'caredesk.db'}", f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    with scratch_postgres(server, "run") as app, scratch_postgres(server, "runtracker") as tracker:
        yield app, tracker


async def read_until(stream: asyncio.StreamReader, marker: str, seconds: float) -> str:
    seen = ""

    async def read() -> None:
        nonlocal seen
        while marker not in seen:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"run.sh ended before {marker!r}:\n{seen}")
            seen += line.decode(errors="replace")

    await asyncio.wait_for(read(), seconds)
    return seen


def group_processes(group: int) -> dict[int, tuple[str, dict[str, str]]]:
    """Each process of a process group: its command line and its environment."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != group:
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            raw = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue
        environ = dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)
        found[int(entry)] = (cmdline, environ)
    return found


def assert_secrets_stay_off_command_lines(group: int) -> None:
    """run.sh made three random secrets: none may be on any command line (/proc/*/cmdline is
    readable by every local user), and each process holds only the secrets it needs."""
    processes = group_processes(group)
    rasa = [env for cmd, env in processes.values() if "engine.serve" in cmd]
    actions = [env for cmd, env in processes.values() if "actions.serve" in cmd]
    gateway = [env for cmd, env in processes.values() if cmd.split(" ")[1:3] == ["-m", "bot"]]
    assert len(rasa) == 2 or len(rasa) == 1 and not answers_tcp("127.0.0.1", 6379), processes
    assert len(actions) == 1 and len(gateway) == 1, processes
    names = ("RASA_TOKEN", "CAREDESK_CHANNEL_SECRET", "ACTION_SERVER_TOKEN")
    secrets = {name: rasa[0][name] for name in names}
    assert all(len(value) >= 20 for value in secrets.values()), "run.sh makes random secrets"
    for cmdline, _ in processes.values():
        for name, value in secrets.items():
            assert value not in cmdline, f"{name} is on a command line: {cmdline[:80]}"
    assert "RASA_TOKEN" not in actions[0] and "CAREDESK_CHANNEL_SECRET" not in actions[0]
    assert actions[0]["ACTION_SERVER_TOKEN"] == secrets["ACTION_SERVER_TOKEN"]
    assert "ACTION_SERVER_TOKEN" not in gateway[0]
    assert gateway[0]["CAREDESK_CHANNEL_SECRET"] == secrets["CAREDESK_CHANNEL_SECRET"]


async def test_run_script_starts_the_processes_serves_a_chat_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    redis = answers_tcp("127.0.0.1", 6379)
    gateway_port = free_port()
    scratch = contextlib.ExitStack()  # entered and closed in a thread: it runs its own event loop
    app_db, tracker_db = await asyncio.to_thread(scratch.enter_context, databases(tmp_path))
    try:
        env = {
            **os.environ, "RASA_PROCESSES": "2", "RASA_PORT": str(two_free_ports()),
            "ACTION_PORT": str(free_port()), "GATEWAY_PORT": str(gateway_port), "GATEWAY_HOST": "127.0.0.1",
            "DATABASE_URL": app_db, "TRACKER_STORE_URL": tracker_db, "REDIS_DB": "4",
            "CAREDESK_LOG_DIR": str(tmp_path / "log"), "GATEWAY_ALLOWED_ORIGINS": ORIGIN,
            "TELEGRAM_TOKEN": "", "RASA_TOKEN": "", "LOCK_STORE": "in_memory",
            "CAREDESK_CHANNEL_SECRET": "", "ACTION_SERVER_TOKEN": "",  # run.sh makes random ones
        }
        env.pop("ACTION_ENDPOINT_URL", None)
        env.pop("GATEWAY_PUBLIC_URL", None)
        migrate(env)
        earlier = tmp_path / "log" / "gateway.log"
        earlier.parent.mkdir()
        earlier.write_text("an earlier run's last words\n")
        earlier.chmod(0o644)
        run = await asyncio.create_subprocess_exec(
            str(PROJECT_ROOT / "scripts" / "run.sh"), cwd=PROJECT_ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
        assert run.stdout is not None
        try:
            started = await read_until(run.stdout, "Press Ctrl-C to stop.", 240)
            rasa = re.search(r"Rasa server \(127\.0\.0\.1 only\):\s+(\S+)\s+\(lock store: (\w+)\)", started)
            assert rasa, started
            if redis:
                assert len(rasa.group(1).split(",")) == 2 and rasa.group(2) == "redis", started
            else:
                assert "needs Redis" in started and len(rasa.group(1).split(",")) == 1, started

            async with aiohttp.ClientSession() as http:
                for url in rasa.group(1).split(","):
                    async with http.get(f"{url}/") as response:
                        assert response.status == 200, f"{url} is not answering"
                async with http.ws_connect(f"http://127.0.0.1:{gateway_port}/ws/chat",
                                           headers={"Origin": ORIGIN}) as ws:
                    assert (await ws.receive_json(timeout=30))["type"] == "hello"
                    await ws.send_json({"type": "message", "text": "hello", "client_id": "run-1"})
                    replies: list[str] = []
                    while not any("Northwind Goods" in text for text in replies):
                        frame = await ws.receive_json(timeout=60)
                        message = frame.get("message") or {}
                        if frame.get("type") == "message" and message.get("from") == "bot":
                            replies.append(message["text"])

            assert_secrets_stay_off_command_lines(run.pid)
            assert earlier.read_text().startswith("an earlier run's last words\n"), "a log was truncated"
            assert stat.S_IMODE(earlier.stat().st_mode) == 0o600
            assert "CareDesk started" in (tmp_path / "log" / "supervisor.log").read_text()

            os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
            stopped = await read_until(run.stdout, "CareDesk stopped.", 60)
            assert await asyncio.wait_for(run.wait(), 30) == 0
            assert "exited unexpectedly" not in stopped
            with pytest.raises(ProcessLookupError):
                os.killpg(run.pid, 0)  # nothing of it is left running
        finally:
            if run.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(run.pid, signal.SIGKILL)
                await run.wait()
    finally:
        await asyncio.to_thread(scratch.close)
