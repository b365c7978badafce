"""What the launcher reads from the environment scripts/run.sh prepared (scripts/env.sh sets
the defaults of the ports and RASA_PROCESSES; .env and the caller's environment win)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

MIB = 1024 * 1024


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class Settings:
    log_dir: Path
    log_max_bytes: int  # a log is rotated before it grows past this
    log_backups: int  # rotated files kept: gateway.log.1 (newest) ... gateway.log.N
    action_port: int
    rasa_port: int
    rasa_processes: int
    gateway_host: str
    gateway_port: int
    lock_store: str
    rasa_spare: bool  # keep a Rasa process loaded to stand in for one that dies (launcher/rasa_spare.py)
    stop_grace_seconds: float = 10.0  # after SIGTERM, a child gets this long before SIGKILL
    start_timeout_seconds: float = 120.0  # `make run` gives up if a process is not up by then

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        return cls(
            log_dir=Path(environ.get("CAREDESK_LOG_DIR") or "var/log"),
            log_max_bytes=_positive(environ, "CAREDESK_LOG_MAX_MB", 10) * MIB,
            log_backups=_positive(environ, "CAREDESK_LOG_FILES", 5),
            action_port=_positive(environ, "ACTION_PORT", 5055),
            rasa_port=_positive(environ, "RASA_PORT", 5005),
            rasa_processes=_positive(environ, "RASA_PROCESSES", 1),
            gateway_host=environ.get("GATEWAY_HOST") or "127.0.0.1",
            gateway_port=_positive(environ, "GATEWAY_PORT", 8000),
            lock_store=environ.get("LOCK_STORE") or "in_memory",
            rasa_spare=_flag(environ, "RASA_SPARE", True),
        )
