"""`make shell` (scripts/shell.sh) behind the secrets: `rasa shell` runs a whole Rasa server
on a local port for the length of the chat, so its channel must refuse strangers too, and a
`make run` already holding ACTION_PORT with a token this shell does not know must not break
the chat (the shell starts its own action server beside it)."""
from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from caredesk.settings import PROJECT_ROOT
from bench.stack import free_port, migrate
from tests.e2e.servers import wait_for
from tests.e2e.test_run_script import group_processes

pytestmark = pytest.mark.e2e


class Terminal:
    """scripts/shell.sh in a pseudo-terminal, as a person runs it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes the shell script
            os.chdir(PROJECT_ROOT)
            os.execvpe("scripts/shell.sh", ["scripts/shell.sh"], env)
        self.seen = b""

    def read_until(self, marker: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while marker.encode() not in self.seen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 1)
            if ready:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    break
        text = self.seen.decode(errors="replace")
        assert marker in text, text[-3000:]
        return text

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def close(self) -> int | None:
        """Waits for the chat to end by itself, then stops whatever of it is left (the child is
        a session leader, so its process group is everything it started). Its exit status."""
        status = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done, code = os.waitpid(self.pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(code)
                break
            time.sleep(0.2)
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if status is None:
            status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        os.close(self.fd)
        return status


def post_without_secret(port: int) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/rest/webhook", headers={"Content-Type": "application/json"},
        data=json.dumps({"sender": "intruder", "message": "I want to leave a review"}).encode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.parametrize("shell_knows_the_token", [False, True], ids=["unknown-token", "token-in-env"])
def test_make_shell_chats_and_its_channel_refuses_strangers(tmp_path: Path, shell_knows_the_token: bool) -> None:
    action_port, shell_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("ACTION_ENDPOINT_URL", "ACTION_SERVER_TOKEN", "CAREDESK_CHANNEL_SECRET", "RASA_TOKEN")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'caredesk.db'}",
               TRACKER_STORE_URL=f"sqlite:///{tmp_path / 'tracker.db'}", ACTION_PORT=str(action_port),
               RASA_SHELL_PORT=str(shell_port), CAREDESK_LOG_DIR=str(tmp_path / "log"),
               LOCK_STORE="in_memory", TERM="xterm")
    migrate(env)
    if shell_knows_the_token:  # as when ACTION_SERVER_TOKEN is set in .env
        env["ACTION_SERVER_TOKEN"] = "the-running-one"
    # A `make run`'s action server on ACTION_PORT.
    log = tmp_path / "running-actions.log"
    with log.open("wb") as out:
        running = subprocess.Popen([str(PROJECT_ROOT / ".venv/bin/python"), "-m", "actions.serve",
                                    "--port", str(action_port)], cwd=PROJECT_ROOT,
                                   env={**env, "ACTION_SERVER_TOKEN": "the-running-one"},
                                   stdout=out, stderr=subprocess.STDOUT)
    terminal = None
    try:
        wait_for(f"http://127.0.0.1:{action_port}/health", running, log, 60)
        terminal = Terminal(env)
        terminal.read_until("Bot loaded", 240)
        assert post_without_secret(shell_port) == 403
        terminal.type("hello")
        terminal.read_until("Northwind Goods", 60)  # company facts come through the action server
        own = (tmp_path / "log" / "actions-shell.log").exists()
        assert own is not shell_knows_the_token, "the running action server if it takes our token, else our own"
        assert "Refused" not in log.read_text(), "the running action server was never called without its token"
        processes = group_processes(terminal.pid)
        [rasa] = [environ for cmdline, environ in processes.values() if "engine.serve shell" in cmdline]
        secrets = [rasa["CAREDESK_CHANNEL_SECRET"], rasa["ACTION_SERVER_TOKEN"]]
        assert not [cmdline for cmdline, _ in processes.values() for secret in secrets if secret in cmdline]
        terminal.type("/stop")
        assert terminal.close() == 0, "/stop ends the chat"
        terminal = None
    finally:
        if terminal is not None:
            terminal.close()
        running.terminate()
        running.wait(timeout=30)
