"""The launcher's side of the spare Rasa process (launcher/rasa_spare.py): start it, notice
when its model is loaded, hand it the port of a Rasa process that died."""
from __future__ import annotations

import asyncio
import logging

from launcher.child import CHUNK, ProcessSpec, die_with_parent, terminate
from launcher.logfile import RotatingLog

logger = logging.getLogger(__name__)
SPARE_READY = b"launcher: spare ready"  # launcher/rasa_spare.py prints it


class LogSwitch:
    """Where a spare's output goes: its own log, then the log of the process it replaces."""

    def __init__(self, target: RotatingLog) -> None:
        self.target = target

    def write(self, data: bytes) -> None:
        self.target.write(data)


class Spare:
    def __init__(self, spec: ProcessSpec, log: RotatingLog) -> None:
        self.spec, self.log = spec, log
        self.process: asyncio.subprocess.Process | None = None
        self.output: LogSwitch | None = None
        self.pump: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.taken = asyncio.Event()

    async def start(self) -> None:
        self.ready, self.taken = asyncio.Event(), asyncio.Event()
        self.output = LogSwitch(self.log)
        self.process = await asyncio.create_subprocess_exec(
            *self.spec.argv, env=dict(self.spec.env), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, preexec_fn=die_with_parent(),
        )
        self.log.note(f"started a spare Rasa process, pid {self.process.pid}")
        logger.info("A spare Rasa process (pid %d) is loading the model, to stand in for a Rasa process that dies.",
                    self.process.pid)
        assert self.process.stdout is not None
        self.pump = asyncio.create_task(self._pump(self.process.stdout, self.output), name="log-spare")

    async def _pump(self, stream: asyncio.StreamReader, output: LogSwitch) -> None:
        tail = b""
        while chunk := await stream.read(CHUNK):
            output.write(chunk)
            if not self.ready.is_set() and SPARE_READY in tail + chunk:
                self.ready.set()
                logger.info("The spare Rasa process is ready.")
            tail = chunk[-len(SPARE_READY):]

    @property
    def available(self) -> bool:
        return self.ready.is_set() and self.process is not None and self.process.returncode is None

    def take(self, port: int, log: RotatingLog) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
        """Turn the ready spare into the Rasa process on `port`, its output now going to `log`."""
        assert self.available and self.process is not None and self.process.stdin is not None
        assert self.output is not None and self.pump is not None
        process, pump = self.process, self.pump
        process.stdin.write(f"{port}\n".encode())
        self.output.target = log
        self.process, self.pump, self.output = None, None, None
        self.taken.set()
        return process, pump

    async def stop(self, grace: float) -> None:
        await terminate(self.process, grace)
        if self.pump is not None:
            await asyncio.wait({self.pump}, timeout=grace)
        self.log.close()
