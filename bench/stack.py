"""The real CareDesk stack for the benchmark: action server, Rasa server and gateway as
separate processes on free 127.0.0.1 ports, with their own temporary SQLite databases, plus
the two things only the operating system can tell: how long each process took to answer, and
how much memory it holds (VmRSS of the process and all its children)."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench import PROJECT_ROOT

ORIGIN = "http://bench.caredesk.test"
APP_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """One server process, its log, and when it became ready (seconds after its start)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes]
    ready_url: str
    started: float
    ready_after: float | None = None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} ({self.log})\n" + "\n".join(text)


@dataclass
class Stack:
    rasa_url: str
    gateway_url: str
    token: str
    services: list[Service] = field(default_factory=list)
    startup_seconds: float | None = None

    @property
    def pids(self) -> dict[str, int]:
        return {s.name: s.process.pid for s in self.services}

    def stop(self) -> None:
        """Stop the gateway first (it closes its sockets), then Rasa, then the action server."""
        for service in reversed(self.services):
            if service.process.poll() is None:
                service.process.terminate()
            try:
                service.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
            service.handle.close()

    def tails(self) -> str:
        return "\n".join(s.tail() for s in self.services)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _spawn(name: str, argv: list[str], env: dict[str, str], workdir: Path, ready_url: str) -> Service:
    log = workdir / f"{name}.log"
    handle = log.open("wb")
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    return Service(name, process, log, handle, ready_url, started)


def migrate(env: dict[str, str]) -> None:
    """Create the temporary app database with the demo shop (what `make migrate` does)."""
    subprocess.run([str(APP_PYTHON), "-m", "actions.db", "migrate"], cwd=PROJECT_ROOT, env=env,
                   check=True, capture_output=True)


def start_stack(workdir: Path, model: Path, timeout: float = 240) -> Stack:
    """Start all three processes at once and wait until each answers: the action server's
    /health, Rasa's /status (only once the model is loaded) and the gateway's /health."""
    if not model.exists():
        raise RuntimeError(f"{model} is missing: run `make train` first")
    action_port, rasa_port, gateway_port = free_port(), free_port(), free_port()
    token = secrets.token_urlsafe(16)
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'caredesk.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}",
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore",
        "SANIC_HOST": "127.0.0.1",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(gateway_port),
        "GATEWAY_ALLOWED_ORIGINS": ORIGIN,
        "RASA_URL": rasa_url,
        "RASA_TOKEN": token,
        "TELEGRAM_TOKEN": "",  # never reach out to Telegram, whatever .env says
    }
    env.pop("GATEWAY_PUBLIC_URL", None)
    migrate(env)
    stack = Stack(rasa_url, f"http://127.0.0.1:{gateway_port}", token)
    began = time.monotonic()
    try:
        stack.services.append(_spawn(
            "actions", [str(APP_PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
            env, workdir, f"http://127.0.0.1:{action_port}/health"))
        stack.services.append(_spawn(
            "rasa", [str(RASA), "run", "--model", str(model), "--endpoints", "endpoints.yml",
                     "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(rasa_port),
                     "--enable-api", "--auth-token", token],
            env, workdir, f"{rasa_url}/status?token={token}"))
        stack.services.append(_spawn(
            "gateway", [str(APP_PYTHON), "-m", "bot"], env, workdir, f"{stack.gateway_url}/health"))
        _wait_ready(stack, began + timeout)
        stack.startup_seconds = time.monotonic() - began
    except BaseException:
        stack.stop()
        raise
    return stack


def _wait_ready(stack: Stack, deadline: float) -> None:
    while any(s.ready_after is None for s in stack.services):
        for service in stack.services:
            if service.ready_after is not None:
                continue
            if service.process.poll() is not None:
                raise RuntimeError(f"the {service.name} process exited while starting:\n{service.tail()}")
            if _answers(service.ready_url):
                service.ready_after = time.monotonic() - service.started
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stack did not answer in time:\n{stack.tails()}")
        time.sleep(0.1)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _vmrss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each named process together with all its descendants, in MiB."""
    tree = _children()
    sizes = {}
    for name, root in pids.items():
        todo, total = [root], 0
        while todo:
            pid = todo.pop()
            total += _vmrss_kib(pid)
            todo.extend(tree.get(pid, []))
        sizes[name] = total / 1024
    return sizes


class MemoryPeak:
    """Samples rss_mib() in a background thread while a load phase runs, keeping the
    largest value of each process (a thread, so a busy event loop cannot skip samples)."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5) -> None:
        self.pids, self.interval = pids, interval
        self.peak: dict[str, float] = {name: 0.0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, size in rss_mib(self.pids).items():
                self.peak[name] = max(self.peak[name], size)
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemoryPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
