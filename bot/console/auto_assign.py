"""Automatic assignment (DESK_AUTO_ASSIGN=on): a new hand-off goes straight to an available
agent, of its team when it has one: the one with the fewest claimed chats under the cap
(DESK_MAX_OPEN_CHATS), and of those the one whose last chat was given longest ago (round
robin). Nobody available, or everybody at the cap: it waits in the queue as before.

Safe with several gateways: the chosen agent's row is locked (PostgreSQL) and their chats
counted again before the hand-off is given through the state machine, whose conditional
update lets only one gateway give a hand-off away."""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from caredesk.db import repository
from caredesk.db.models import Agent, Handoff
from bot import lifecycle, outcomes
from bot.console.assign import Assigned, open_chats, since, tell
from bot.console.desk import Desk
from bot.console.roles import PERMISSIONS
from bot.fanout import Fanout
from bot.hub import Hub
from bot.presence import ONLINE

logger = logging.getLogger(__name__)
AUTO = "gateway"  # the actor of an automatic assignment in conversation_events


def available_agents(hub: Hub, fanout: Fanout | None = None) -> set[str]:
    """Who may be given a chat now: agents with a console open and "online" (not away), on
    this gateway or another (the hub's presence reads the fan-out's)."""
    return {username for username, seen in hub.presence().items() if seen.status == ONLINE}


async def choose(session: AsyncSession, handoff: Handoff, available: set[str], cap: int) -> Agent | None:
    """The agent to give `handoff` to, their row locked until the caller commits; None when
    nobody available is under the cap."""
    if not available:
        return None
    query = select(Agent).where(Agent.username.in_(sorted(available)), Agent.active.is_(True),
                                Agent.role.in_(sorted(PERMISSIONS["work"])))
    if handoff.team_id is not None:
        query = query.where(Agent.team_id == handoff.team_id)
    agents = list((await session.scalars(query)).all())
    counts = await open_chats(session)
    last = dict((await session.execute(select(Handoff.agent_username, func.max(Handoff.claimed_at))
                                       .where(Handoff.agent_username.in_([a.username for a in agents]))
                                       .group_by(Handoff.agent_username))).all())
    agents.sort(key=lambda a: (counts.get(a.username, 0), since(last.get(a.username)), a.username))
    for agent in agents:
        if counts.get(agent.username, 0) >= cap:
            break
        # Another gateway may be giving this agent a chat right now: wait for it, count again.
        await session.execute(select(Agent.id).where(Agent.id == agent.id).with_for_update())
        claimed = await session.scalar(select(func.count()).select_from(Handoff).where(
            Handoff.status == "claimed", Handoff.agent_username == agent.username))
        if (claimed or 0) < cap:
            return agent
    return None


class AutoAssigner:
    """Runs after a hand-off is created (Router.on_handed_over) when DESK_AUTO_ASSIGN is on."""

    def __init__(self, desk: Desk, cap: int, fanout: Callable[[], Fanout | None] = lambda: None) -> None:
        self.desk, self.cap, self.fanout = desk, cap, fanout
        self.sessions: async_sessionmaker = desk.sessions  # type: ignore[type-arg]

    async def offer(self, conversation_id: str) -> bool:
        """Give the conversation's waiting hand-off to an available agent; False when it stays
        in the queue (nobody available or free, or someone claimed it first). Never raises:
        the queue is the fallback for any failure."""
        try:
            return await self._offer(conversation_id)
        except Exception:
            logger.exception("automatic assignment of %s failed; it waits in the queue", conversation_id)
            return False

    async def _offer(self, conversation_id: str) -> bool:
        available = available_agents(self.desk.hub, self.fanout())
        if not available:
            return False
        async with self.sessions.begin() as session:
            handoff = await repository.open_handoff(session, conversation_id)
            if handoff is None or handoff.status != "waiting":
                return False
            agent = await choose(session, handoff, available, self.cap)
            if agent is None:
                return False
            try:
                change = await lifecycle.claim(session, conversation_id, handoff, username=agent.username,
                                               name=agent.name, now=self.desk.clock(), taken_from=None,
                                               actor=AUTO, detail={"auto": True})
            except lifecycle.TooLate:
                return False
            await outcomes.settle_waiting(session, conversation_id, "person")
            if handoff.ticket_id is not None:
                await repository.add_ticket_event(session, handoff.ticket_id, "assigned", actor=AUTO,
                                                  note=f"to {agent.name}")
        logger.info("conversation %s given to %s automatically", conversation_id, agent.username)
        await tell(self.desk, conversation_id, Assigned(change, agent, None), by=None)
        return True
