"""Gateway processes (`python -m bot`, as the launcher starts them) for the several-gateways
tests: each on its own port, all on one database and one Redis, with a stand-in Rasa that the
test runs; and the chat and console clients that talk to them."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.stack import APP_PYTHON, ORIGIN, free_port
from caredesk.settings import PROJECT_ROOT
from tests.bot.rasa_standin import RasaStandIn
from tests.bot.test_webchat import frames_until



class ScriptedRasa(RasaStandIn):
    """The stand-in, plus: "person please" always fails (the chat is queued for a person), and
    the first "hold me" of each conversation is held until the test ends (a turn in flight
    when its gateway dies); sent again, it is answered."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        super().__init__(port)
        self.host = host
        self.url = f"http://{host}:{self.port}"
        self.held: set[str] = set()
        self._forever = asyncio.Event()

    async def start(self) -> "ScriptedRasa":
        from aiohttp.test_utils import TestServer

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._scripted)
        app.router.add_post("/conversations/{sender}/tracker/events", self._resume)
        self._server = TestServer(app, host=self.host, port=self.port)
        await self._server.start_server()
        return self

    async def close(self) -> None:
        self._forever.set()
        await super().close()

    async def _scripted(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body["message"] == "person please":
            return web.json_response({"error": "down"}, status=500)
        if body["message"] == "hold me" and body["sender"] not in self.held:
            self.held.add(body["sender"])
            await self._forever.wait()
            return web.json_response([], status=500)
        return await self._webhook(request)  # the body is cached: read again there


@dataclass
class GatewayProcess:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    async def stop(self, seconds: float = 15) -> int:
        """SIGTERM, waited for off the event loop (which may be serving what it needs to stop)."""
        self.process.terminate()
        return await asyncio.to_thread(self.process.wait, seconds)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to Redis or the sockets."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def gateway_env(database_url: str, rasa_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GATEWAY_", "RASA_", "TELEGRAM_", "DATABASE_URL", "TRACKER_STORE_URL"))}
    env.update({
        "DATABASE_URL": database_url, "RASA_URL": rasa_url, "RASA_TOKEN": "test-token",
        "CAREDESK_CHANNEL_SECRET": "test-secret", "RASA_HEALTH_INTERVAL_SECONDS": "0",
        "GATEWAY_REDIS_URL": redis_url, "GATEWAY_REDIS_PREFIX": f"{prefix}limits:", "GATEWAY_FANOUT_PREFIX": prefix,
        "GATEWAY_ALLOWED_ORIGINS": ORIGIN, "GATEWAY_CONSOLE_ORIGINS": ORIGIN,
        # Lines left unanswered by a dead gateway are sent to the bot again after 2 s.
        "GATEWAY_REDRIVE_SECONDS": "1", "GATEWAY_REDRIVE_AFTER_SECONDS": "2",
        **extra,
    })
    return env


@contextlib.contextmanager
def gateways(names: Sequence[str], env: dict[str, str], workdir: Path,
             address: Callable[[str], str] = lambda name: "127.0.0.1",
             wrap: Callable[[str], list[str]] = lambda name: [],
             env_for: Callable[[str], dict[str, str]] = lambda name: {}) -> Iterator[dict[str, GatewayProcess]]:
    """Start one gateway per name (each logging to workdir/NAME.log), reached at `address(name)`;
    `wrap(name)` prefixes its command (e.g. `ip netns exec`: it then listens on every address
    of its namespace), `env_for(name)` adds to its environment. Stopped at the end if alive."""
    started: dict[str, GatewayProcess] = {}
    try:
        for name in names:
            port = free_port()
            log = workdir / f"{name}.log"
            argv = [*wrap(name), str(APP_PYTHON), "-m", "bot"]
            with log.open("wb") as out:  # the child keeps its own copy
                process = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                           env={**env, **env_for(name), "GATEWAY_PORT": str(port),
                                                "GATEWAY_HOST": "0.0.0.0" if wrap(name) else address(name)})
            started[name] = GatewayProcess(name, process, f"http://{address(name)}:{port}", log)
        yield started
    finally:
        for gateway in started.values():
            if gateway.process.poll() is None:
                gateway.process.terminate()
                try:
                    gateway.process.wait(15)
                except subprocess.TimeoutExpired:
                    gateway.kill()


async def until_healthy(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the gateway exited:\n{log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, OSError):
                async with http.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=1)) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text(errors='replace')[-3000:]}")


# Frames up to the first that passes a check; a gateway in its own process may take longer.
until_frame = functools.partial(frames_until, seconds=15)


async def sign_in(http: aiohttp.ClientSession, url: str, username: str, password: str) -> str:
    """Where the login form sends the browser (/console when signed in)."""
    async with http.post(f"{url}/console/login", data={"username": username, "password": password},
                         headers={"Origin": ORIGIN}, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        return str(response.headers["Location"])
