"""The audit log: who signed in (or failed to), and what each agent changed, kept in
`audit_log` for admins to read. Entries join the caller's unit of work, so an action and its
entry are committed together or not at all. Message texts and passwords never go in."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import AuditEntry, utcnow

PAGE = 50
MAX_PAGE = 200


def client_address(request: web.Request) -> str | None:
    """The address an entry records (behind trusted proxies, the client's)."""
    from bot.peers import client_address as address  # bot.peers reads the app keys, which import the desk

    return address(request)


def record(session: AsyncSession, actor: str, action: str, target: str | None = None,
           detail: dict[str, Any] | None = None, address: str | None = None) -> AuditEntry:
    """Add an entry to the caller's unit of work (no round trip of its own until it flushes)."""
    entry = AuditEntry(at=utcnow(), actor=actor[:64], action=action[:48],
                       target=None if target is None else target[:255], detail=detail,
                       address=None if address is None else address[:64])
    session.add(entry)
    return entry


def entry_frame(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
            "target": entry.target, "detail": entry.detail, "address": entry.address}


async def entries(session: AsyncSession, *, actor: str | None = None, action: str | None = None,
                  before: int | None = None, limit: int = PAGE) -> list[AuditEntry]:
    """Newest first; the next page starts before the last id of this one."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, MAX_PAGE)))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list((await session.scalars(query)).all())
