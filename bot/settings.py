"""Gateway settings, read from the environment once."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from sqlalchemy.engine import make_url

from caredesk.mail import MailSettings
from caredesk.settings import PROJECT_ROOT, Settings as ActionSettings, async_database_url


@dataclass(frozen=True)
class LimitSettings:
    """Limits on the public surface (0 turns one off). Per address ones must be generous
    enough for an office of ~20 people behind one NAT; per conversation ones tight enough that
    one client cannot hog Rasa."""

    chats_per_minute: int = 30  # new web chats per address
    connects_per_minute: int = 120  # chat sockets opened per address, new chats and reloads alike
    sockets: int = 100  # open chat sockets per address
    address_messages_per_minute: int = 300  # web chat messages per address
    chat_messages_per_minute: int = 20  # messages per web chat conversation
    telegram_messages_per_minute: int = 20  # messages per Telegram chat
    signin_failures_per_address: int = 30  # wrong console passwords per address per 15 minutes
    signin_failures_per_username: int = 5  # wrong console passwords per username per 15 minutes
    signin_workers: int = 2  # threads that check passwords (Argon2), off the event loop
    signin_waiting: int = 8  # sign-ins allowed to wait for those threads; more get "try again"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "LimitSettings":
        def number(name: str, default: int) -> int:
            value = int(environ.get(name) or default)
            if value < 0:
                raise ValueError(f"{name} must be 0 or more, got {value}")
            return value

        return cls(
            chats_per_minute=number("GATEWAY_LIMIT_CHATS_PER_MINUTE", cls.chats_per_minute),
            connects_per_minute=number("GATEWAY_LIMIT_CONNECTS_PER_MINUTE", cls.connects_per_minute),
            sockets=number("GATEWAY_LIMIT_SOCKETS", cls.sockets),
            address_messages_per_minute=number("GATEWAY_LIMIT_ADDRESS_MESSAGES_PER_MINUTE",
                                               cls.address_messages_per_minute),
            chat_messages_per_minute=number("GATEWAY_LIMIT_CHAT_MESSAGES_PER_MINUTE", cls.chat_messages_per_minute),
            telegram_messages_per_minute=number("GATEWAY_LIMIT_TELEGRAM_MESSAGES_PER_MINUTE",
                                                cls.telegram_messages_per_minute),
            signin_failures_per_address=number("GATEWAY_LIMIT_SIGNIN_FAILURES_PER_ADDRESS",
                                               cls.signin_failures_per_address),
            signin_failures_per_username=number("GATEWAY_LIMIT_SIGNIN_FAILURES_PER_USERNAME",
                                                cls.signin_failures_per_username),
            signin_workers=max(1, number("GATEWAY_SIGNIN_WORKERS", cls.signin_workers)),
            signin_waiting=number("GATEWAY_SIGNIN_WAITING", cls.signin_waiting),
        )


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    database_url: str = field(repr=False)
    rasa_url: str
    rasa_token: str = field(repr=False)
    allowed_origins: frozenset[str]
    # The console's own origins (login, logout, its WebSocket, state-changing /api requests):
    # by default the gateway's own URLs only, never the shop pages that embed the widget.
    console_origins: frozenset[str]
    secure_cookies: bool
    session_hours: int
    domain_file: Path
    # The hand-off summary's words (bot/console/summary.py); trainers edit this file.
    summary_texts_file: Path = PROJECT_ROOT / "bot" / "console" / "summary_texts.yml"
    rasa_timeout: float = 30.0  # longest wait for a turn with a busy Rasa process (gateway queue)
    # Seconds one Rasa process has to answer a message before the fault path runs (a hung
    # process); see README. The slowest turn measured under heavy load took 9.4 s
    # (docs/benchmark.md, "Turn times and the reply deadline").
    rasa_reply_timeout: float = 15.0
    rasa_health_interval: float = 2.0  # seconds between probes of each Rasa process; 0: off
    rasa_health_timeout: float = 3.0  # a probe unanswered this long is a miss (2 in a row: down)
    chat_resume_hours: float = 48.0
    rasa_max_in_flight: int = 3
    telegram_token: str = field(default="", repr=False)
    telegram_webhook_url: str = ""
    telegram_secret: str = field(default="", repr=False)
    telegram_api_url: str = ""
    # The Rasa REST channel's shared secret (engine/channel.py); sent with every message.
    channel_secret: str = field(default="", repr=False)
    # Limits, live frames and agents' presence shared by several gateways; "": this process only.
    redis_url: str = field(default="", repr=False)
    redis_prefix: str = "caredesk:limits:"
    fanout_prefix: str = "caredesk:gateways:"  # the fan-out channel's and presence hash's names start so
    trusted_proxies: int = 0
    limits: LimitSettings = field(default_factory=LimitSettings)
    idle_minutes: int = 60
    # Rasa's tracker store (privacy export/erase, retention). Empty: Rasa's events are not touched.
    tracker_store_url: str = field(default="", repr=False)
    retention_days: int = 0  # 0: conversations are kept until erased one by one
    # Stored customer lines without an answer are sent to the bot again (bot/redrive.py): all
    # of them when the gateway starts, then every `redrive_seconds` (0: only at start) those
    # older than `redrive_after_seconds`; none older than `redrive_max_age_hours` (0: no limit).
    redrive_seconds: float = 10.0
    redrive_after_seconds: float = 60.0
    redrive_max_age_hours: float = 24.0
    # Email to customers (caredesk/mail.py): SMTP_HOST unset turns it off. Its words: emails.yml.
    mail: MailSettings = field(default_factory=MailSettings)
    emails_file: Path = PROJECT_ROOT / "emails.yml"
    # A claimed chat whose agent has not written for this long goes back to the queue (0: never);
    # checked every `claim_watch_seconds`.
    claim_reply_minutes: float = 5.0
    claim_watch_seconds: float = 30.0
    # A new hand-off goes straight to an available agent (bot/console/auto_assign.py), one with
    # fewer than `max_open_chats` claimed chats. Off by default.
    auto_assign: bool = False
    max_open_chats: int = 3

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        host = environ.get("GATEWAY_HOST", "127.0.0.1")
        port = int(environ.get("GATEWAY_PORT", "8000"))
        default_origins = {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
        if environ.get("GATEWAY_PUBLIC_URL"):
            default_origins.add(environ["GATEWAY_PUBLIC_URL"].rstrip("/"))
        origins = environ.get("GATEWAY_ALLOWED_ORIGINS")
        console = environ.get("GATEWAY_CONSOLE_ORIGINS")
        return cls(
            host=host,
            port=port,
            database_url=ActionSettings.from_env(environ).database_url,
            rasa_url=environ.get("RASA_URL", f"http://127.0.0.1:{environ.get('RASA_PORT', '5005')}"),
            rasa_token=environ.get("RASA_TOKEN", ""),
            allowed_origins=_origins(origins) if origins else frozenset(default_origins),
            console_origins=_origins(console) if console else frozenset(default_origins),
            secure_cookies=environ.get("GATEWAY_SECURE_COOKIES", "false").lower() == "true",
            rasa_max_in_flight=int(environ.get("RASA_MAX_IN_FLIGHT", "3")),
            rasa_reply_timeout=_positive(environ, "RASA_REPLY_TIMEOUT_SECONDS", 15.0),
            rasa_health_interval=max(0.0, float(environ.get("RASA_HEALTH_INTERVAL_SECONDS") or 2.0)),
            rasa_health_timeout=_positive(environ, "RASA_HEALTH_TIMEOUT_SECONDS", 3.0),
            session_hours=int(environ.get("AGENT_SESSION_HOURS", "12")),
            chat_resume_hours=float(environ.get("CHAT_RESUME_HOURS", "48")),
            idle_minutes=max(1, int(environ.get("AGENT_IDLE_MINUTES", "60"))),
            domain_file=PROJECT_ROOT / "domain.yml",
            telegram_token=environ.get("TELEGRAM_TOKEN", ""),
            telegram_webhook_url=environ.get("TELEGRAM_WEBHOOK_URL", ""),
            telegram_secret=environ.get("TELEGRAM_SECRET_TOKEN", ""),
            telegram_api_url=environ.get("TELEGRAM_API_URL", ""),
            channel_secret=environ.get("CAREDESK_CHANNEL_SECRET", ""),
            redis_url=environ.get("GATEWAY_REDIS_URL", ""),
            redis_prefix=environ.get("GATEWAY_REDIS_PREFIX") or "caredesk:limits:",
            fanout_prefix=environ.get("GATEWAY_FANOUT_PREFIX") or "caredesk:gateways:",
            trusted_proxies=int(environ.get("GATEWAY_TRUSTED_PROXIES") or 0),
            limits=LimitSettings.from_env(environ),
            tracker_store_url=tracker_store_url(environ.get("TRACKER_STORE_URL") or "sqlite:///var/tracker.db"),
            retention_days=max(0, int(environ.get("RETENTION_DAYS") or "0")),
            redrive_seconds=max(0.0, float(environ.get("GATEWAY_REDRIVE_SECONDS") or "10")),
            redrive_after_seconds=max(0.0, float(environ.get("GATEWAY_REDRIVE_AFTER_SECONDS") or "60")),
            redrive_max_age_hours=max(0.0, float(environ.get("GATEWAY_REDRIVE_MAX_AGE_HOURS") or "24")),
            mail=MailSettings.from_env(environ),
            claim_reply_minutes=max(0.0, float(environ.get("DESK_CLAIM_REPLY_MINUTES") or "5")),
            claim_watch_seconds=_positive(environ, "DESK_CLAIM_WATCH_SECONDS", 30.0),
            auto_assign=_switch(environ, "DESK_AUTO_ASSIGN"),
            max_open_chats=int(_positive(environ, "DESK_MAX_OPEN_CHATS", 3)),
        )


def _switch(environ: Mapping[str, str], name: str) -> bool:
    value = (environ.get(name) or "off").strip().lower()
    if value not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{name} must be on or off, got {value!r}")
    return value in ("on", "true", "1", "yes")


def _positive(environ: Mapping[str, str], name: str, default: float) -> float:
    value = float(environ.get(name) or default)
    if value <= 0:
        raise ValueError(f"{name} must be more than 0, got {value:g}")
    return value


def _origins(value: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in value.split(",") if o.strip())


def tracker_store_url(url: str) -> str:
    """TRACKER_STORE_URL as Rasa reads it (a relative SQLite path is relative to the project
    root, where `make run` starts Rasa), with an asyncio driver for the gateway."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            parsed = parsed.set(database=str(PROJECT_ROOT / path))
    return async_database_url(parsed.render_as_string(hide_password=False))
