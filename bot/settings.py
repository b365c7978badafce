"""Gateway settings, read from the environment once."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from sqlalchemy.engine import make_url

from actions.settings import PROJECT_ROOT, Settings as ActionSettings, async_database_url


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    database_url: str = field(repr=False)
    rasa_url: str
    rasa_token: str = field(repr=False)
    allowed_origins: frozenset[str]
    secure_cookies: bool
    session_hours: int
    domain_file: Path
    canned_file: Path
    rasa_timeout: float = 30.0
    rasa_max_in_flight: int = 3
    telegram_token: str = field(default="", repr=False)
    telegram_webhook_url: str = ""
    telegram_secret: str = field(default="", repr=False)
    telegram_api_url: str = ""
    # Rasa's tracker store (privacy export/erase, retention). Empty: Rasa's events are not touched.
    tracker_store_url: str = field(default="", repr=False)
    retention_days: int = 0  # 0: conversations are kept until erased one by one

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        host = environ.get("GATEWAY_HOST", "127.0.0.1")
        port = int(environ.get("GATEWAY_PORT", "8000"))
        default_origins = {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
        if environ.get("GATEWAY_PUBLIC_URL"):
            default_origins.add(environ["GATEWAY_PUBLIC_URL"].rstrip("/"))
        origins = environ.get("GATEWAY_ALLOWED_ORIGINS")
        return cls(
            host=host,
            port=port,
            database_url=ActionSettings.from_env(environ).database_url,
            rasa_url=environ.get("RASA_URL", f"http://127.0.0.1:{environ.get('RASA_PORT', '5005')}"),
            rasa_token=environ.get("RASA_TOKEN", ""),
            allowed_origins=frozenset(
                o.strip().rstrip("/") for o in origins.split(",") if o.strip()
            ) if origins else frozenset(default_origins),
            secure_cookies=environ.get("GATEWAY_SECURE_COOKIES", "false").lower() == "true",
            rasa_max_in_flight=int(environ.get("RASA_MAX_IN_FLIGHT", "3")),
            session_hours=int(environ.get("AGENT_SESSION_HOURS", "12")),
            domain_file=PROJECT_ROOT / "domain.yml",
            canned_file=PROJECT_ROOT / "bot" / "console" / "canned_replies.yml",
            telegram_token=environ.get("TELEGRAM_TOKEN", ""),
            telegram_webhook_url=environ.get("TELEGRAM_WEBHOOK_URL", ""),
            telegram_secret=environ.get("TELEGRAM_SECRET_TOKEN", ""),
            telegram_api_url=environ.get("TELEGRAM_API_URL", ""),
            tracker_store_url=tracker_store_url(environ.get("TRACKER_STORE_URL") or "sqlite:///var/tracker.db"),
            retention_days=max(0, int(environ.get("RETENTION_DAYS") or "0")),
        )


def tracker_store_url(url: str) -> str:
    """TRACKER_STORE_URL as Rasa reads it (a relative SQLite path is relative to the project
    root, where `make run` starts Rasa), with an asyncio driver for the gateway."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            parsed = parsed.set(database=str(PROJECT_ROOT / path))
    return async_database_url(parsed.render_as_string(hide_password=False))
