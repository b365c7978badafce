"""The real CareDesk stack as separate processes on free 127.0.0.1 ports: the action server,
one or more Rasa servers and (for the benchmark) the gateway, each with its own log, plus the
two things only the operating system can tell: how long each process took to answer and how
much memory it holds (VmRSS of the process and all its children). The end-to-end tests start
the same stack (tests/conftest.py), so both measure and test one way of running CareDesk.

Layouts: the embedded default (SQLite files in the work folder, one Rasa process, in-memory
locks), or the production one (several Rasa processes sharing a PostgreSQL tracker store and
their conversation locks in Redis), chosen with StackOptions."""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from bench import PROJECT_ROOT

ORIGIN = "http://bench.caredesk.test"
APP_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"  # training (bench/cost.py)
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"  # serving: python -m engine.serve
CHANNEL_SECRET_HEADER = "X-CareDesk-Channel-Secret"  # engine/channel.py
ACTION_TOKEN_HEADER = "X-CareDesk-Action-Token"  # actions/serve.py
MODEL = PROJECT_ROOT / "models" / "caredesk.tar.gz"


# The speed figures come from one load client, one address: limits so high that they cost
# only their check. The flood case (bench/flood.py) runs with the shipped limits instead.
LOAD_CLIENT_LIMITS = tuple((name, "1000000") for name in (
    "GATEWAY_LIMIT_CHATS_PER_MINUTE", "GATEWAY_LIMIT_CONNECTS_PER_MINUTE", "GATEWAY_LIMIT_SOCKETS", "GATEWAY_LIMIT_ADDRESS_MESSAGES_PER_MINUTE",
    "GATEWAY_LIMIT_CHAT_MESSAGES_PER_MINUTE"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers_tcp(host: str, port: int) -> bool:
    """Whether something listens there (Redis, PostgreSQL), without speaking its protocol."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class StackOptions:
    """`tracker_store_url`/`database_url` None: SQLite files in the work folder."""

    engines: int = 1
    lock_store: str = "in_memory"  # or "redis"
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_db: int = 1
    tracker_store_url: str | None = None
    database_url: str | None = None
    gateway: bool = True
    gateway_env: tuple[tuple[str, str], ...] = ()  # extra settings for the gateway only
    gateways: int = 1  # more than one needs GATEWAY_REDIS_URL in gateway_env (docs/gateways.md)

    def describe(self) -> str:
        store = "PostgreSQL" if (self.tracker_store_url or "").startswith("postgres") else "SQLite"
        app = "PostgreSQL" if (self.database_url or "").startswith("postgres") else "SQLite"
        return (f"{self.engines} Rasa process{'es' if self.engines > 1 else ''}, {store} tracker store, "
                f"{'Redis' if self.lock_store == 'redis' else 'in-memory'} lock store, {app} app database")


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
    rasa_urls: list[str]
    gateway_url: str | None
    token: str = field(repr=False)
    database_url: str
    options: StackOptions
    tracker_store_url: str = ""
    channel_secret: str = field(default="", repr=False)
    action_token: str = field(default="", repr=False)
    action_url: str = ""
    services: list[Service] = field(default_factory=list)
    startup_seconds: float | None = None
    gateway_urls: list[str] = field(default_factory=list)  # every gateway; gateway_url is the first

    @property
    def rasa_url(self) -> str:
        """The first Rasa process (any of them serves any conversation)."""
        return self.rasa_urls[0]

    @property
    def rasa_url_list(self) -> str:
        """All Rasa processes, the way the gateway's RASA_URL takes them."""
        return ",".join(self.rasa_urls)

    @property
    def channel_headers(self) -> dict[str, str]:
        """What a caller of Rasa's REST channel must send (engine/channel.py)."""
        return {CHANNEL_SECRET_HEADER: self.channel_secret}

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

    def tails(self, lines: int = 30) -> str:
        return "\n".join(s.tail(lines) for s in self.services)


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
    """Create the app database with the demo shop (`make migrate` with DEMO_SHOP=true: the
    tests and the benchmark ask about the demo orders, on SQLite and PostgreSQL alike)."""
    subprocess.run([str(APP_PYTHON), "-m", "caredesk.db", "migrate"], cwd=PROJECT_ROOT,
                   env={**env, "DEMO_SHOP": "true"}, check=True, capture_output=True)


@contextlib.contextmanager
def scratch_postgres(server_url: str, purpose: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `server_url`, dropped afterwards, so
    a run never mixes with an earlier one's conversations."""
    import asyncpg

    parts = urlsplit(server_url.replace("+asyncpg", ""))
    name = f"caredesk_{purpose}_{secrets.token_hex(4)}"
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_stack(workdir: Path, options: StackOptions = StackOptions(), model: Path = MODEL,
                timeout: float = 240) -> Stack:
    """Start every process at once and wait until each answers: the action server's /health,
    each Rasa server's /status (only once its model is loaded) and the gateway's /health."""
    if not model.exists():
        raise RuntimeError(f"{model} is missing: run `make train` first")
    action_port = free_port()
    gateway_ports = [free_port() for _ in range(options.gateways if options.gateway else 0)]
    rasa_urls = [f"http://127.0.0.1:{free_port()}" for _ in range(options.engines)]
    token = secrets.token_urlsafe(16)
    channel_secret, action_token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    action_url = f"http://127.0.0.1:{action_port}"
    database_url = options.database_url or f"sqlite:///{workdir / 'caredesk.db'}"
    tracker_store_url = options.tracker_store_url or f"sqlite:///{workdir / 'tracker.db'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRACKER_STORE_URL": tracker_store_url,
        "ACTION_ENDPOINT_URL": f"{action_url}/webhook",
        "LOCK_STORE": options.lock_store,
        "REDIS_HOST": options.redis_host,
        "REDIS_PORT": str(options.redis_port),
        "REDIS_DB": str(options.redis_db),
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore",
        "SANIC_HOST": "127.0.0.1",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_ALLOWED_ORIGINS": ORIGIN,
        "RASA_URL": ",".join(rasa_urls),
        "RASA_TOKEN": token,
        "CAREDESK_CHANNEL_SECRET": channel_secret,
        "ACTION_SERVER_TOKEN": action_token,
        "TELEGRAM_TOKEN": "",  # never reach out to Telegram, whatever .env says
    }
    env.pop("GATEWAY_PUBLIC_URL", None)
    migrate(env)
    gateway_urls = [f"http://127.0.0.1:{port}" for port in gateway_ports]
    stack = Stack(rasa_urls, gateway_urls[0] if gateway_urls else None, token, database_url, options,
                  tracker_store_url, channel_secret=channel_secret, action_token=action_token,
                  action_url=action_url, gateway_urls=gateway_urls)
    # Secrets travel in the environment only (never argv), and each process gets just its own.
    action_env = {k: v for k, v in env.items() if k not in ("RASA_TOKEN", "CAREDESK_CHANNEL_SECRET")}
    gateway_env = {k: v for k, v in env.items() if k != "ACTION_SERVER_TOKEN"}
    began = time.monotonic()
    try:
        stack.services.append(_spawn(
            "actions", [str(APP_PYTHON), "-m", "actions.serve", "--port", str(action_port)],
            action_env, workdir, f"{action_url}/health"))
        for index, url in enumerate(rasa_urls):
            stack.services.append(_spawn(
                "rasa" if index == 0 else f"rasa-{index}",
                [str(RASA_PYTHON), "-m", "engine.serve", "run", "--model", str(model),
                 "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
                 "--interface", "127.0.0.1", "--port", url.rsplit(":", 1)[1], "--enable-api"],
                env, workdir, f"{url}/status?token={token}"))
        for index, (port, url) in enumerate(zip(gateway_ports, gateway_urls)):
            stack.services.append(_spawn(
                "gateway" if index == 0 else f"gateway-{index}", [str(APP_PYTHON), "-m", "bot"],
                {**gateway_env, **dict(options.gateway_env), "GATEWAY_PORT": str(port)}, workdir, f"{url}/health"))
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
