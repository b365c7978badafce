"""Canned replies in the database: search for every agent; add, change and delete for those
with `canned_manage` (checked by the API). Each change is audited in the caller's unit of
work. The rows are the one source: bot/console/canned_replies.yml only seeded a new install
(migration 0007)."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import CannedReply, utcnow
from bot.console import audit
from bot.console.placeholders import GAP, unknown_placeholders
from bot.text_input import has_forbidden

SHORTCUT = re.compile(r"[a-z0-9_-]{1,32}")
MAX_TITLE = 80
MAX_TEXT = 2000
MAX_QUERY = 100
PAGE = 20
MAX_PAGE = 100


class CannedError(ValueError):
    """A refused change, in words an admin or lead can act on; `status` is the HTTP status."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.status = status


def reply_frame(reply: CannedReply) -> dict[str, Any]:
    return {"id": reply.id, "shortcut": reply.shortcut, "title": reply.title, "text": reply.text,
            "created_at": reply.created_at.isoformat(), "created_by": reply.created_by,
            "updated_at": reply.updated_at.isoformat(), "updated_by": reply.updated_by}


def check_shortcut(shortcut: str) -> str:
    if not SHORTCUT.fullmatch(shortcut):
        raise CannedError("the shortcut needs 1 to 32 lower-case letters, digits, '_' or '-'")
    return shortcut


def check_title(title: str) -> str:
    title = " ".join(title.split())
    if has_forbidden(title) or not title or len(title) > MAX_TITLE:
        raise CannedError(f"the title needs 1 to {MAX_TITLE} characters")
    return title


def check_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if has_forbidden(text) or re.search("[\x01-\x08\x0b-\x1f\x7f]", text):
        raise CannedError("the text contains characters that are not allowed")
    if not text or len(text) > MAX_TEXT:
        raise CannedError(f"the text needs 1 to {MAX_TEXT} characters")
    unknown = unknown_placeholders(text)
    if unknown:
        names = ", ".join("{" + name + "}" for name in dict.fromkeys(unknown))
        raise CannedError(f"unknown placeholder {names}; use {{first_name}}, {{ticket_number}}, "
                          "{agent_name}, {order_number} or {promised_time}")
    if GAP.search(text):
        raise CannedError("the text contains a gap marker; write a placeholder such as {first_name} instead")
    return text


async def search(session: AsyncSession, query: str = "", limit: int = PAGE) -> list[CannedReply]:
    """Replies whose shortcut, title or text contains `query` (any case); shortcuts that start
    with it first, then by shortcut."""
    statement = select(CannedReply)
    needle = query.strip().lower()[:MAX_QUERY]
    if needle:
        statement = statement.where(or_(*(func.lower(column).contains(needle, autoescape=True)
                                          for column in (CannedReply.shortcut, CannedReply.title, CannedReply.text))))
        first = case((CannedReply.shortcut.startswith(needle, autoescape=True), 0), else_=1)
        statement = statement.order_by(first, CannedReply.shortcut)
    else:
        statement = statement.order_by(CannedReply.shortcut)
    return list((await session.scalars(statement.limit(max(1, min(limit, MAX_PAGE))))).all())


async def find(session: AsyncSession, reply_id: int) -> CannedReply:
    reply = await session.get(CannedReply, reply_id)
    if reply is None:
        raise CannedError("no such canned reply", 404)
    return reply


async def _taken(session: AsyncSession, shortcut: str, but: int | None = None) -> bool:
    statement = select(CannedReply.id).where(CannedReply.shortcut == shortcut)
    if but is not None:
        statement = statement.where(CannedReply.id != but)
    return await session.scalar(statement) is not None


async def add(session: AsyncSession, *, shortcut: str, title: str, text: str, actor: str,
              address: str | None) -> CannedReply:
    shortcut, title, text = check_shortcut(shortcut), check_title(title), check_text(text)
    if await _taken(session, shortcut):
        raise CannedError(f"the shortcut /{shortcut} is taken", 409)
    now = utcnow()
    reply = CannedReply(shortcut=shortcut, title=title, text=text, created_at=now, created_by=actor,
                        updated_at=now, updated_by=actor)
    session.add(reply)
    await session.flush()
    audit.record(session, actor, "canned_add", shortcut, {"id": reply.id, "title": title}, address)
    return reply


async def change(session: AsyncSession, reply_id: int, *, actor: str, address: str | None,
                 shortcut: str | None = None, title: str | None = None, text: str | None = None) -> CannedReply:
    reply = await find(session, reply_id)
    changed: dict[str, Any] = {}
    if shortcut is not None and check_shortcut(shortcut) != reply.shortcut:
        if await _taken(session, shortcut, but=reply.id):
            raise CannedError(f"the shortcut /{shortcut} is taken", 409)
        changed["shortcut"] = {"from": reply.shortcut, "to": shortcut}
        reply.shortcut = shortcut
    title = None if title is None else check_title(title)
    if title is not None and title != reply.title:
        changed["title"] = {"from": reply.title, "to": title}
        reply.title = title
    text = None if text is None else check_text(text)
    if text is not None and text != reply.text:
        changed["text"] = {"characters": len(text)}
        reply.text = text
    if changed:
        reply.updated_at, reply.updated_by = utcnow(), actor
        audit.record(session, actor, "canned_change", reply.shortcut, {"id": reply.id, **changed}, address)
    return reply


async def delete(session: AsyncSession, reply_id: int, *, actor: str, address: str | None) -> None:
    reply = await find(session, reply_id)
    audit.record(session, actor, "canned_delete", reply.shortcut, {"id": reply.id, "title": reply.title}, address)
    await session.delete(reply)
