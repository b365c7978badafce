"""Start the real action server and Rasa server for end-to-end tests, on free local ports,
with their own temporary databases."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from actions.settings import PROJECT_ROOT

MODEL = PROJECT_ROOT / "models" / "caredesk.tar.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    rasa_url: str
    token: str
    database_url: str
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]
    handles: list[IO[bytes]]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in self.handles:
            handle.close()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in self.logs
        )


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{log.name} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds}s:\n{log.read_text(errors='replace')[-3000:]}")


def start_stack(workdir: Path) -> Stack:
    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `make train` first")
    database_url = f"sqlite:///{workdir / 'caredesk.db'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "SANIC_HOST": "127.0.0.1",
    }
    subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/python"), "-m", "actions.db", "migrate"],
        cwd=PROJECT_ROOT, env=env, check=True, capture_output=True,
    )
    action_port, rasa_port = free_port(), free_port()
    env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{action_port}/webhook"
    token = secrets.token_urlsafe(16)
    logs = [workdir / "actions.log", workdir / "rasa.log"]
    processes: list[subprocess.Popen[bytes]] = []
    handles = [log.open("wb") for log in logs]
    stack = Stack(f"http://127.0.0.1:{rasa_port}", token, database_url, processes, logs, handles)
    try:
        processes.append(subprocess.Popen(
            [str(PROJECT_ROOT / ".venv/bin/python"), "-m", "rasa_sdk", "--actions", "actions",
             "--port", str(action_port)],
            cwd=PROJECT_ROOT, env=env, stdout=handles[0], stderr=subprocess.STDOUT,
        ))
        _wait(f"http://127.0.0.1:{action_port}/health", processes[0], logs[0])
        processes.append(subprocess.Popen(
            [str(PROJECT_ROOT / ".venv-rasa/bin/rasa"), "run", "--model", str(MODEL),
             "--endpoints", str(PROJECT_ROOT / "endpoints.yml"),
             "--credentials", str(PROJECT_ROOT / "credentials.yml"),
             "--interface", "127.0.0.1", "--port", str(rasa_port),
             "--enable-api", "--auth-token", token],
            cwd=PROJECT_ROOT, env=env, stdout=handles[1], stderr=subprocess.STDOUT,
        ))
        _wait(f"{stack.rasa_url}/status?token={token}", processes[1], logs[1])
    except BaseException:
        stack.stop()
        raise
    return stack
