"""Gateway settings, read from the environment once."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from actions.settings import PROJECT_ROOT, Settings as ActionSettings


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
    idle_minutes: int = 60

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
            idle_minutes=max(1, int(environ.get("AGENT_IDLE_MINUTES", "60"))),
            domain_file=PROJECT_ROOT / "domain.yml",
            canned_file=PROJECT_ROOT / "bot" / "console" / "canned_replies.yml",
            telegram_token=environ.get("TELEGRAM_TOKEN", ""),
            telegram_webhook_url=environ.get("TELEGRAM_WEBHOOK_URL", ""),
            telegram_secret=environ.get("TELEGRAM_SECRET_TOKEN", ""),
            telegram_api_url=environ.get("TELEGRAM_API_URL", ""),
        )
