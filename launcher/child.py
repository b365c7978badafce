"""One supervised process: how to start it, its log, and whether it answers."""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from launcher.backoff import Backoff
from launcher.logfile import RotatingLog

CHUNK = 64 * 1024
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    """`health_url` answers 200 once the process serves (Rasa: only after its model loaded)."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    health_url: str
    spare_port: int | None = None  # a Rasa process: the spare may take over this port


def describe_exit(returncode: int) -> str:
    """`exit code 3` or `killed by SIGKILL`, as an operator reads it."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


async def terminate(process: asyncio.subprocess.Process | None, grace: float) -> None:
    """TERM, then KILL when it has not exited after `grace` seconds; returns once it has."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def die_with_parent() -> Callable[[], None] | None:
    """A preexec function asking Linux to TERM the child if the launcher itself is killed, so a
    `kill -9` of the launcher leaves no servers behind holding the ports. The libc function is
    looked up here, before any fork, so the child only makes one system call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


class Child:
    def __init__(self, spec: ProcessSpec, log: RotatingLog) -> None:
        self.spec, self.log = spec, log
        self.process: asyncio.subprocess.Process | None = None
        self.started = 0.0
        self.backoff = Backoff()
        self.restarts = 0
        self._pumps: set[asyncio.Task[None]] = set()
        self._preexec = die_with_parent()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def uptime(self) -> float:
        return asyncio.get_running_loop().time() - self.started

    async def start(self) -> None:
        """Start the process with its output appended to its log (stdin closed)."""
        self.started = asyncio.get_running_loop().time()
        self.process = await asyncio.create_subprocess_exec(
            *self.spec.argv, env=dict(self.spec.env), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, preexec_fn=self._preexec,
        )
        self.log.note(f"started {self.spec.name}, pid {self.process.pid}")
        assert self.process.stdout is not None
        pump = asyncio.create_task(self._pump(self.process.stdout), name=f"log-{self.spec.name}")
        self._pumps.add(pump)
        pump.add_done_callback(self._pumps.discard)

    def adopt(self, process: asyncio.subprocess.Process, pump: asyncio.Task[None]) -> None:
        """Take over a process started elsewhere (the spare Rasa), its output already on the way here."""
        self.started = asyncio.get_running_loop().time()
        self.process = process
        self.log.note(f"the spare Rasa process, pid {process.pid}, took over as {self.spec.name}")
        self._pumps.add(pump)
        pump.add_done_callback(self._pumps.discard)

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        """Copy the child's output to its log until the pipe closes (the child and anything it
        forked are gone), whichever process of this name wrote it."""
        while chunk := await stream.read(CHUNK):
            self.log.write(chunk)

    async def answers(self, session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(self.spec.health_url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    async def wait_until_up(self, session: aiohttp.ClientSession, seconds: float) -> bool:
        """Until the health URL answers (True), or the process exits or time runs out (False).
        Polled: a server announces its readiness in no other way."""
        process, deadline = self.process, asyncio.get_running_loop().time() + seconds
        while process is not None and process.returncode is None:
            if await self.answers(session):
                return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.1)
        return False

    async def stop(self, grace: float) -> None:
        """TERM, then KILL after `grace` seconds; then wait for the output to be written."""
        process = self.process
        await terminate(process, grace)
        if self._pumps:
            await asyncio.wait(set(self._pumps), timeout=grace)
        if process is not None and process.returncode is not None:
            self.log.note(f"{self.spec.name} (pid {process.pid}) stopped: {describe_exit(process.returncode)}")
        self.log.close()

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
