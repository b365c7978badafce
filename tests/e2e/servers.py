"""The real stack for end-to-end tests: the same launcher `make bench` uses (bench/stack.py),
without its gateway (tests start their own). Where this machine runs Redis, the tests run the
production layout: two Rasa processes sharing their conversation locks in Redis, and, when
TEST_DATABASE_URL points at PostgreSQL, a scratch PostgreSQL tracker store; otherwise the
embedded default (one process, SQLite)."""
from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.stack import Stack, StackOptions, answers_tcp, free_port, scratch_postgres, start_stack

__all__ = ["Stack", "free_port", "running_stack", "wait_for"]


def options(tracker_store_url: str | None) -> StackOptions:
    redis = answers_tcp("127.0.0.1", 6379) and os.environ.get("E2E_SINGLE_RASA", "") != "1"
    return StackOptions(engines=2 if redis else 1, lock_store="redis" if redis else "in_memory",
                        redis_db=2, tracker_store_url=tracker_store_url, gateway=False)


@contextlib.contextmanager
def running_stack(workdir: Path) -> Iterator[Stack]:
    server = os.environ.get("TEST_DATABASE_URL", "")
    with contextlib.ExitStack() as cleanup:
        tracker = cleanup.enter_context(scratch_postgres(server, "e2e")) if server.startswith("postgres") else None
        stack = start_stack(workdir, options(tracker))
        cleanup.callback(stack.stop)
        yield stack


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 180) -> None:
    """Until `url` answers; fails with the log's end if the process exits first."""
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
