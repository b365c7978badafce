"""Logs that survive restarts: appended to, never truncated, rotated at a size (name.log.1 is
the newest old file), owner-only (they hold customers' messages)."""
from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

MODE = 0o600


class RotatingLog:
    """One process's log file. Writes are whole chunks as the child produced them; the file is
    rotated before a chunk would take it past `max_bytes` (a single larger chunk still goes
    into a fresh file whole). Blocking writes are fine: a chunk is at most 64 KiB."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._fd: int | None = None
        self._size = 0

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, MODE)
            os.fchmod(self._fd, MODE)  # an older file made under a looser umask
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def _rotate(self) -> None:
        self.close()
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def write(self, data: bytes) -> None:
        if not data:
            return
        fd = self._open()
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
            fd = self._open()
        os.write(fd, data)
        self._size += len(data)

    def note(self, text: str) -> None:
        """A line from the launcher itself (a start or an exit), so the log tells the story."""
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.write(f"=== {stamp} launcher: {text} ===\n".encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RotatingLogHandler(logging.Handler):
    """The supervisor's own events into supervisor.log, rotated like the children's logs."""

    def __init__(self, log: RotatingLog) -> None:
        super().__init__()
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.write((self.format(record) + "\n").encode(errors="replace"))
        except Exception:  # a full disk must not stop the supervisor
            self.handleError(record)

    def close(self) -> None:
        self.log.close()
        super().close()
