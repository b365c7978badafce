"""A claimed chat is never left without an answer (issue 19, item 3): when the agent who
claimed it has not written to the customer within `claim_reply_minutes`, the chat goes back
to the queue (bot/lifecycle.py "unanswered"), the customer is told a colleague is being found,
and the consoles get an alert for the leads. Every gateway watches; the state machine's
conditional update makes each return happen once."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import select

from caredesk.db.models import Handoff
from bot import lifecycle
from bot.app_keys import DESK, ROUTER, SETTINGS
from bot.console.desk import Desk
from bot.router import Router

logger = logging.getLogger(__name__)
BATCH = 50


async def return_unanswered(router: Router, desk: Desk, minutes: float) -> int:
    """One pass: every chat claimed more than `minutes` ago without a word from its agent
    goes back to the queue. Returns how many did; one failure never stops the others."""
    now = router.clock()
    before = now - dt.timedelta(minutes=minutes)
    async with router.sessions() as session:
        overdue = list((await session.scalars(
            select(Handoff).where(Handoff.status == "claimed", Handoff.claimed_at < before)
            .order_by(Handoff.claimed_at).limit(BATCH)
        )).all())
    returned = 0
    for handoff in overdue:
        agent = handoff.claimed_by
        try:
            async with router.sessions.begin() as session:
                change = await lifecycle.unanswered(session, handoff, before=before, now=now)
            if change is None:
                continue
            returned += 1
            await lifecycle.announce(router.hub, change, promised_time=router.promised_time(handoff.promised_response_at))
            await router.say(change.conversation_id, "system", router.texts.say("utter_gateway_claim_unanswered"))
            await router.hub.to_agents({"type": "alert", "kind": "claim_unanswered",
                                        "conversation_id": change.conversation_id, "agent_name": agent,
                                        "minutes": minutes})
            logger.warning("conversation %s: %s claimed it and did not reply within %s minutes; back in the queue",
                           change.conversation_id, agent, minutes)
        except Exception:
            logger.exception("could not return the unanswered claim of conversation %s", handoff.conversation_id)
    if returned:
        await desk.publish_queue()
    return returned


async def _watch(router: Router, desk: Desk, minutes: float, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await return_unanswered(router, desk, minutes)
        except Exception:  # a database hiccup: try again next time
            logger.exception("the claim watch failed this time")


async def claim_watch(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: runs while the gateway does, when DESK_CLAIM_REPLY_MINUTES is not 0."""
    settings = app[SETTINGS]
    task = None
    if settings.claim_reply_minutes > 0:
        task = asyncio.create_task(_watch(app[ROUTER], app[DESK], settings.claim_reply_minutes,
                                          settings.claim_watch_seconds))
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
