"""Start the processes stage by stage (each stage waits until all of its processes answer),
then watch them: a process that exits while nobody asked it to is logged and restarted with
back-off, and the others keep serving. A stop request TERMs everything (KILL after a grace)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence

import aiohttp

from launcher.backoff import Backoff
from launcher.child import Child, ProcessSpec, describe_exit
from launcher.logfile import RotatingLog
from launcher.settings import Settings
from launcher.spare import Spare

logger = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StartFailed(RuntimeError):
    """A process exited or did not answer while `make run` was starting: nothing to supervise."""


class Supervisor:
    def __init__(self, stages: Sequence[Sequence[ProcessSpec]], settings: Settings,
                 spare: ProcessSpec | None = None) -> None:
        """`spare`: a process kept loaded to stand in for any child with a `spare_port`."""
        self.stages, self.settings = stages, settings
        self.children: list[Child] = []
        self._stop = asyncio.Event()
        self._watchers: list[asyncio.Task[None]] = []
        self.spare = Spare(spare, self._log_for(spare)) if spare else None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.spec.name == name)

    def _log_for(self, spec: ProcessSpec) -> RotatingLog:
        return RotatingLog(self.settings.log_dir / f"{spec.name}.log", self.settings.log_max_bytes,
                           self.settings.log_backups)

    async def start(self, session: aiohttp.ClientSession, announce: Callable[[ProcessSpec], None]) -> None:
        """Start every stage in order; raises StartFailed (having said why) if one fails.
        Returns early, without raising, when a stop is requested meanwhile."""
        for stage in self.stages:
            new = [Child(spec, self._log_for(spec)) for spec in stage]
            for child in new:
                announce(child.spec)
                self.children.append(child)
                await child.start()
                logger.debug("%s started, pid %d", child.spec.name, child.process.pid if child.process else -1)
            results = await asyncio.gather(*(self._first_start(child, session) for child in new))
            if self.stopping:
                return
            if not all(results):
                raise StartFailed()

    async def _first_start(self, child: Child, session: aiohttp.ClientSession) -> bool:
        waiting = asyncio.create_task(child.wait_until_up(session, self.settings.start_timeout_seconds))
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait({waiting, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not waiting.done():
            waiting.cancel()
            return False
        if waiting.result():
            return True
        if child.running:
            logger.error("The %s did not answer at %s within %.0f s; see %s", child.spec.name,
                         child.spec.health_url, self.settings.start_timeout_seconds, child.log.path)
        else:
            assert child.process is not None and child.process.returncode is not None
            logger.error("The %s exited while starting (%s); its log is %s:\n%s", child.spec.name,
                         describe_exit(child.process.returncode), child.log.path, child.tail())
        return False

    def watch(self, session: aiohttp.ClientSession) -> None:
        """From now on, restart any child that dies."""
        self._watchers = [asyncio.create_task(self._watch(child, session), name=f"watch-{child.spec.name}")
                          for child in self.children]
        if self.spare is not None:
            self._watchers.append(asyncio.create_task(self._keep_spare(self.spare), name="spare"))

    async def _keep_spare(self, spare: Spare) -> None:
        """Always one spare loading or ready: a new one after each take-over, or after it died."""
        backoff = Backoff()
        while not self.stopping:
            started = asyncio.get_running_loop().time()
            await spare.start()
            assert spare.process is not None
            pid = spare.process.pid
            exited, taken = asyncio.create_task(spare.process.wait()), asyncio.create_task(spare.taken.wait())
            await asyncio.wait({exited, taken}, return_when=asyncio.FIRST_COMPLETED)
            if taken.done():
                exited.cancel()
                backoff = Backoff()
                continue
            taken.cancel()
            if self.stopping:
                return
            delay = backoff.delay(asyncio.get_running_loop().time() - started)
            logger.warning("The spare Rasa process (pid %d) exited: %s; starting another %s.", pid,
                           describe_exit(exited.result()), "now" if not delay else f"in {delay:.0f} s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay or 0.001)

    async def _watch(self, child: Child, session: aiohttp.ClientSession) -> None:
        while not self.stopping:
            assert child.process is not None
            pid, returncode = child.process.pid, await child.process.wait()
            if self.stopping:
                return
            died = asyncio.get_running_loop().time()
            uptime = child.uptime()
            delay = child.backoff.delay(uptime)
            child.log.note(f"{child.spec.name} (pid {pid}) exited: {describe_exit(returncode)}")
            logger.warning("The %s process (pid %d) exited unexpectedly: %s, after %.1f s up; restarting it %s.",
                           child.spec.name, pid, describe_exit(returncode), uptime,
                           "now" if not delay else f"in {delay:.0f} s")
            if delay:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self.stopping:
                    return
            child.restarts += 1
            try:
                if self.spare is not None and self.spare.available and child.spec.spare_port is not None:
                    child.adopt(*self.spare.take(child.spec.spare_port, child.log))
                    logger.info("The spare Rasa process (pid %d) takes over as the %s.",
                                child.process.pid if child.process else -1, child.spec.name)
                else:
                    await child.start()
            except OSError as error:
                logger.error("The %s could not be started again: %s", child.spec.name, error)
                child.started = asyncio.get_running_loop().time()
                continue
            assert child.process is not None
            if await child.wait_until_up(session, self.settings.start_timeout_seconds):
                logger.warning("The %s process is back (pid %d, restart %d): answering %s %.1f s after it died.",
                               child.spec.name, child.process.pid, child.restarts, child.spec.health_url,
                               asyncio.get_running_loop().time() - died)
            elif child.running:
                logger.error("The %s (pid %d) was restarted but does not answer at %s; see %s",
                             child.spec.name, child.process.pid, child.spec.health_url, child.log.path)

    async def wait_for_stop(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        """Stop watching, then TERM every child at once (KILL after the grace) and close logs."""
        self._stop.set()
        for watcher in self._watchers:
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        stopping = [child.stop(self.settings.stop_grace_seconds) for child in self.children]
        if self.spare is not None:
            stopping.append(self.spare.stop(self.settings.stop_grace_seconds))
        await asyncio.gather(*stopping)


def install_signal_handlers(supervisor: Supervisor) -> None:
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, supervisor.request_stop)
