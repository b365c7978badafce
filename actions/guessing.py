"""Limits on guessing who a customer is, across conversations.

An order look-up or a ticket's contact check can be tried three times in a conversation, but
a new chat costs nothing, so the counts that matter live in the database (`failed_checks`,
shared by every action server): per order or ticket number, per email address and per client
(the gateway's digest of the sender's address or Telegram chat). While any of them is over its
limit, the check is refused even with the right answer; otherwise guessing would go on until
it hit. A refused check still counts against its client (whoever keeps trying), not against the
order or ticket, so an attacker cannot keep its owner locked out for ever. Only digests of the values are stored, and rows older than a day are removed."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rasa_sdk import Tracker
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import FailedCheck

logger = logging.getLogger(__name__)
KEEP = dt.timedelta(days=1)

Check = tuple[str, str]  # (kind, value): ("order", "10004821"), ("email", ...), ("client", ...)


def _default_limits() -> dict[str, int]:
    return {"order": 5, "ticket": 5, "email": 5, "client": 10}


@dataclass(frozen=True)
class Limits:
    """Failed checks allowed per kind within `window` before checks of that value pause."""

    window: dt.timedelta = dt.timedelta(hours=1)
    per_kind: Mapping[str, int] = field(default_factory=_default_limits)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Limits":
        limits = _default_limits()
        for kind in limits:
            value = environ.get(f"GUESS_LIMIT_{kind.upper()}")
            if value:
                limits[kind] = int(value)
        return cls(window=dt.timedelta(minutes=int(environ.get("GUESS_WINDOW_MINUTES", "60"))), per_kind=limits)


def digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value.strip().lower()}".encode("utf-8", "replace")).hexdigest()


def client_of(tracker: Tracker) -> str | None:
    """The gateway's key for who sent the latest message (absent in `make shell`)."""
    metadata = tracker.latest_message.get("metadata") or {}
    client = metadata.get("client")
    return str(client)[:64] if client else None


def checks(*pairs: tuple[str, str | None]) -> list[Check]:
    return [(kind, value) for kind, value in pairs if value]


async def blocked(session: AsyncSession, wanted: Sequence[Check], limits: Limits, now: dt.datetime) -> bool:
    """Whether any of these values has failed too often lately."""
    if not wanted:
        return False
    since = now - limits.window
    keys = or_(*(and_(FailedCheck.kind == kind, FailedCheck.key == digest(kind, value)) for kind, value in wanted))
    rows = (await session.execute(
        select(FailedCheck.kind, func.count()).where(keys, FailedCheck.at > since).group_by(FailedCheck.kind, FailedCheck.key)
    )).all()
    over = [kind for kind, count in rows if count >= limits.per_kind.get(kind, 5)]
    if over:
        logger.warning("identity checks paused after too many failures (%s)", ", ".join(sorted(set(over))))
    return bool(over)


async def failed(session: AsyncSession, wanted: Sequence[Check], now: dt.datetime) -> None:
    """Count one failure against each value, and forget failures older than a day."""
    session.add_all(FailedCheck(kind=kind, key=digest(kind, value), at=now) for kind, value in wanted)
    await session.execute(delete(FailedCheck).where(FailedCheck.at < now - KEEP))
    await session.flush()
