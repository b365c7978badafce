"""Placeholders in canned replies, filled on the server from the open conversation.

The server fills them because it holds the ticket, the customer and the hand-off summary
in one place; the console only inserts the result. A placeholder without a value becomes a
gap marker such as ⟦first_name⟧: visible, easy to spot, and refused by the desk when a
reply is sent, so a customer never receives "{first_name}" or a half-filled sentence."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.company import Company
from caredesk.db.models import Handoff
from bot.console.queue import conversation_ticket

# What a canned reply may contain; anything else in braces is refused when it is saved.
KNOWN = ("first_name", "ticket_number", "agent_name", "order_number", "promised_time")
PLACEHOLDER = re.compile(r"\{([^{}\s]{0,40})\}")
GAP_OPEN, GAP_CLOSE = "\u27e6", "\u27e7"  # ⟦ ⟧
GAP = re.compile(GAP_OPEN + r"[a-z_]+" + GAP_CLOSE)
UNFILLED = re.compile(r"\{(?:" + "|".join(KNOWN) + r")\}|" + GAP.pattern)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def unknown_placeholders(text: str) -> list[str]:
    """The placeholders in `text` that nobody could fill, in order of appearance."""
    return [name for name in PLACEHOLDER.findall(text) if name not in KNOWN]


def gap(name: str) -> str:
    return f"{GAP_OPEN}{name}{GAP_CLOSE}"


def fill(text: str, values: dict[str, str | None]) -> str:
    """Each known placeholder replaced by its value, or by its gap marker when it has none."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in KNOWN:
            return match.group(0)
        value = (values.get(name) or "").strip()
        return value or gap(name)

    return PLACEHOLDER.sub(one, text)


def unfilled(text: str) -> bool:
    """Whether a reply still holds a placeholder or a gap marker (the desk refuses to send it)."""
    return UNFILLED.search(text) is not None


def _first_name(full: Any) -> str | None:
    if not isinstance(full, str):
        return None
    parts = full.split()
    return parts[0][:60] if parts else None


def _short(value: Any, limit: int = 40) -> str | None:
    return value.strip()[:limit] or None if isinstance(value, str) else None


async def conversation_values(session: AsyncSession, conversation_id: str, *, agent_name: str,
                              company: Company) -> dict[str, str | None]:
    """What the placeholders stand for in this conversation: the ticket and its customer
    first, then what the customer told the bot (the hand-off summary's slots)."""
    handoff = await session.scalar(
        select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id.desc()))
    ticket = await conversation_ticket(session, conversation_id)
    summary = handoff.summary if handoff is not None and isinstance(handoff.summary, dict) else {}
    slots = summary.get("slots") if isinstance(summary.get("slots"), dict) else {}
    customer = await ticket.awaitable_attrs.customer if ticket is not None else None
    promised = (ticket.promised_response_at if ticket is not None
                else handoff.promised_response_at if handoff is not None else None)
    when = None
    if promised is not None:
        local = promised.astimezone(company.timezone)
        when = f"{DAYS[local.weekday()]} {local:%H:%M}"
    return {
        "agent_name": agent_name,
        "first_name": _first_name(customer.name if customer is not None else slots.get("customer_name")),
        "ticket_number": (ticket.number if ticket is not None else None) or _short(summary.get("ticket")),
        "order_number": (ticket.order_number if ticket is not None else None) or _short(slots.get("order_number")),
        "promised_time": when,
    }
