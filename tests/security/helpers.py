"""Shared by the security tests: a gateway whose widget may sit on a shop's own site, and a
ticket to change."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from aiohttp.test_utils import TestClient

from caredesk.db import repository
from caredesk.db.models import utcnow
from bot.settings import Settings
from tests.bot.conftest import ORIGIN, start_client

SHOP = "https://shop.example.com"  # a page that embeds the widget, and nothing more


async def shop_and_console_gateway(make_settings: Callable[..., Settings], database_url: str) -> TestClient:
    """The widget is allowed on the shop's pages; the console only on the gateway itself."""
    settings = dataclasses.replace(make_settings(database_url), allowed_origins=frozenset({ORIGIN, SHOP}),
                                   console_origins=frozenset({ORIGIN}))
    return await start_client(settings)


async def add_ticket(sessions, conversation_id: str = "c_1") -> str:  # type: ignore[no-untyped-def]
    async with sessions.begin() as session:
        ticket = await repository.create_ticket(session, repository.NewTicket(
            channel="webchat", conversation_id=conversation_id, contact="jo@example.org", contact_kind="email",
            category="late_delivery", description="still waiting", desired_outcome="refund",
            order_number=None, sentiment=-0.2, severity="formal_complaint", priority="normal",
            priority_score=60, promised_response_at=utcnow(),
        ))
        return ticket.number
