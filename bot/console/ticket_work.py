"""Working a ticket without a live chat: change its status, add an internal note. The same
rules as in a chat (bot/console/desk.py): the role, and a ticket whose conversation another
agent has claimed changes only with `work_any`; every change is audited in its own unit of
work, and consoles watching the conversation see it at once. Replying to the customer is not
here: that is delivery's."""
from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db import repository
from caredesk.db.models import TICKET_STATUSES, Agent, Note
from bot import store
from bot.console import audit
from bot.console.desk import Desk, DeskError, change_ticket_status
from bot.console.roles import can
from bot.router import MAX_TEXT

logger = logging.getLogger(__name__)


class Invalid(DeskError):
    """The request itself is wrong: an unknown status, an empty or too long note."""


async def _check(session: AsyncSession, agent: Agent, conversation_id: str) -> bool:
    """Raises DeskError unless `agent` may change this ticket; True when its conversation
    exists (so watchers are told)."""
    conversation = await store.conversation(session, conversation_id)
    if conversation is None:  # a ticket written outside the gateway: nobody has claimed it
        if not can(agent, "work"):
            raise DeskError("Your role does not allow this.")
        return False
    Desk._check_owner(agent, conversation, claimed=False)  # type: ignore[arg-type]
    return True


async def change_status(desk: Desk, agent: Agent, number: str, status: str, address: str | None) -> str:
    """Returns the ticket's number. Raises TicketNotFound, DeskError, CannotChange, Invalid."""
    if status not in TICKET_STATUSES:
        raise Invalid("Unknown ticket status.")
    async with desk.sessions.begin() as session:
        ticket = await repository.ticket_by_number(session, number)
        live = await _check(session, agent, ticket.conversation_id)
        await change_ticket_status(session, ticket, status, username=agent.username, address=address,
                                   detail={"conversation_id": ticket.conversation_id, "from_inbox": True})
        conversation_id, number = ticket.conversation_id, ticket.number or number
    await _tell(desk, conversation_id, live)
    if status == "resolved" and live:  # after the chat ended, the customer is told where they are
        await desk.tell_resolved(conversation_id, ticket, agent_name=agent.name, username=agent.username)
    return number


async def add_note(desk: Desk, agent: Agent, number: str, text: str, address: str | None) -> str:
    """An internal note on the ticket (and its conversation). Returns the ticket's number."""
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise Invalid(f"A note needs 1 to {MAX_TEXT} characters.")
    async with desk.sessions.begin() as session:
        ticket = await repository.ticket_by_number(session, number)
        live = await _check(session, agent, ticket.conversation_id)
        session.add(Note(conversation_id=ticket.conversation_id, ticket_id=ticket.id, author=agent.name, text=text))
        audit.record(session, agent.username, "note", ticket.conversation_id,
                     {"ticket": ticket.number, "from_inbox": True}, address)
        conversation_id, number = ticket.conversation_id, ticket.number or number
    await _tell(desk, conversation_id, live)
    return number


async def _tell(desk: Desk, conversation_id: str, live: bool) -> None:
    """Consoles showing the conversation read it again; the queue may show the new status."""
    if live:
        await desk._refresh_watchers(conversation_id)
    await desk.publish_queue()
