"""Two customers' data in every table CareDesk and Rasa keep, for the privacy tests: Alice (a
guest: no shop account) and Bob (the demo shop's Tom Becker). Every string that would identify
Alice is listed in ALICE_TRACES; an erasure must leave none of them anywhere."""
from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from caredesk.db import repository
from caredesk.db.models import (
    AuditEntry, Base, Conversation, Customer, Feedback, Handoff, Message, Note, Ticket, utcnow,
)
from caredesk.settings import async_database_url
from bot.privacy.tracker import events, make_tracker_engine, metadata
from tests.conftest import _admin

ALICE_EMAIL = "alice.w@example.net"
ALICE_PHONE = "+44 7700 900999"
ALICE_PHONE_TYPED = "07700 900999"  # how she typed it on Telegram
ALICE_TG = "987654321"
ALICE_WEB = "c_alice_web_conversation"
ALICE_TEXT = "my blue teapot arrived in pieces"
ALICE_ORDER = "10009999"
ALICE_TRACES = (ALICE_EMAIL, ALICE_PHONE, ALICE_PHONE_TYPED, ALICE_TG, ALICE_WEB, ALICE_TEXT, ALICE_ORDER,
                "teapot", "lovely Dana")
BOB_WEB = "c_bob_web_conversation"
BOB_TEXT = "where is my parcel, the lamp for the hallway"


@pytest.fixture
async def tracker_url(database_url: str, tmp_path: Any) -> AsyncIterator[str]:
    """A scratch database for Rasa's tracker store, on the same backend as the app database."""
    if database_url.startswith("sqlite"):
        yield async_database_url(f"sqlite:///{tmp_path / 'tracker.db'}")
        return
    server = os.environ["TEST_DATABASE_URL"]
    name = f"caredesk_tracker_{uuid.uuid4().hex[:10]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield async_database_url(make_url(server).set(database=name).render_as_string(hide_password=False))
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def tracker_engine(tracker_url: str) -> AsyncIterator[AsyncEngine]:
    """Rasa's `events` table, created as Rasa's SQLTrackerStore would."""
    engine = make_tracker_engine(tracker_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@dataclass
class Seeded:
    alice_tickets: list[str]
    bob_ticket: str


async def add_events(engine: AsyncEngine, sender: str, texts: list[str], *, days_ago: float = 0) -> None:
    at = (utcnow() - timedelta(days=days_ago)).timestamp()
    rows = []
    for index, text in enumerate(texts):
        rows.append({"sender_id": sender, "type_name": "user", "timestamp": at + index, "intent_name": "inform",
                     "action_name": None, "data": json.dumps({"event": "user", "text": text})})
        rows.append({"sender_id": sender, "type_name": "action", "timestamp": at + index + 0.5,
                     "intent_name": None, "action_name": "action_listen",
                     "data": json.dumps({"event": "action", "name": "action_listen"})})
    async with engine.begin() as connection:
        await connection.execute(insert(events), rows)


async def add_chat(session: Any, conversation_id: str, lines: list[tuple[str, str]], *, days_ago: float = 0,
                   channel: str = "webchat", mode: str = "bot") -> None:
    at = utcnow() - timedelta(days=days_ago)
    session.add(Conversation(id=conversation_id, channel=channel, mode=mode, created_at=at, updated_at=at))
    await session.flush()
    for index, (sender, text) in enumerate(lines):
        session.add(Message(conversation_id=conversation_id, sender=sender, text=text, buttons=[],
                            agent_name="Dana" if sender == "agent" else None,
                            created_at=at + timedelta(seconds=index)))
    await session.flush()


async def add_ticket(session: Any, conversation_id: str, contact: str, kind: str, description: str, *,
                     order: str | None = None, customer_id: int | None = None, status: str = "open",
                     days_ago: float = 0, channel: str = "webchat") -> Ticket:
    at = utcnow() - timedelta(days=days_ago)
    ticket = await repository.create_ticket(session, repository.NewTicket(
        channel=channel, conversation_id=conversation_id, contact=contact, contact_kind=kind,
        category="damaged_item", description=description, desired_outcome="refund", order_number=order,
        sentiment=-0.6, severity="formal_complaint", priority="high", priority_score=80,
        promised_response_at=at + timedelta(hours=4), customer_id=customer_id))
    ticket.status, ticket.created_at = status, at
    if status in ("resolved", "closed"):
        ticket.resolved_at = at + timedelta(hours=1)
        ticket.closed_at = at + timedelta(hours=2) if status == "closed" else None
    await session.flush()
    return ticket


def add_handoff(session: Any, conversation_id: str, ticket: Ticket | None, said: str, *, status: str = "ended",
                days_ago: float = 0, channel: str = "webchat") -> Handoff:
    at = utcnow() - timedelta(days=days_ago)
    handoff = Handoff(conversation_id=conversation_id, channel=channel, ticket_id=ticket.id if ticket else None,
                      reason="asked", priority="high", priority_score=80, status=status,
                      summary={"recent_messages": [said], "slots": {"contact": ticket.contact if ticket else None}},
                      promised_response_at=at + timedelta(hours=1), created_at=at,
                      claimed_at=at + timedelta(minutes=5) if status != "waiting" else None,
                      claimed_by="Dana" if status != "waiting" else None,
                      agent_username="dana" if status != "waiting" else None)
    session.add(handoff)
    return handoff


async def seed_two_customers(sessions: Any, tracker_engine: AsyncEngine) -> Seeded:
    async with sessions.begin() as session:
        tom = await session.scalar(select(Customer).where(Customer.email == "tom.becker@example.com"))
        await add_chat(session, ALICE_WEB, [("customer", f"Hello, {ALICE_TEXT}!"), ("bot", "I'm sorry to hear that."),
                                            ("agent", "Hi, I am Dana, let me help."), ("customer", "thank you")])
        await add_chat(session, "tg_" + ALICE_TG, [("customer", f"order {ALICE_ORDER}, my email is {ALICE_EMAIL}"),
                                                   ("bot", "Thanks, I found it.")], channel="telegram")
        await add_chat(session, BOB_WEB, [("customer", BOB_TEXT), ("bot", "It is on its way.")])
        web = await add_ticket(session, ALICE_WEB, ALICE_EMAIL, "email", f"The customer says: {ALICE_TEXT}",
                               order=ALICE_ORDER, status="resolved")
        tg = await add_ticket(session, "tg_" + ALICE_TG, ALICE_PHONE_TYPED, "phone", "A teapot lid is missing",
                              status="closed", channel="telegram")
        bob = await add_ticket(session, BOB_WEB, "+49 151 5550 1002", "phone", BOB_TEXT, order="10003310",
                               customer_id=tom.id)
        alice_handoff = add_handoff(session, ALICE_WEB, web, ALICE_TEXT)
        bob_handoff = add_handoff(session, BOB_WEB, bob, BOB_TEXT)
        await session.flush()
        session.add_all([
            Feedback(conversation_id=ALICE_WEB, channel="webchat", ticket_id=web.id, handoff_id=alice_handoff.id,
                     rating=5, subject="agent", agent_username="dana",
                     comment=f"lovely Dana, call me on {ALICE_PHONE}"),
            Feedback(conversation_id=ALICE_WEB, channel="webchat", ticket_id=web.id, handoff_id=alice_handoff.id,
                     rating=3, subject="bot"),
            Feedback(conversation_id="tg_" + ALICE_TG, channel="telegram", rating=2, subject="bot",
                     comment="slow teapot answers"),
            Feedback(conversation_id=BOB_WEB, channel="webchat", ticket_id=bob.id, handoff_id=bob_handoff.id,
                     rating=4, subject="agent", agent_username="dana", comment="quick help with the hallway lamp"),
            Note(conversation_id=ALICE_WEB, ticket_id=web.id, author="Dana", text="Upset about the teapot"),
            Note(conversation_id=BOB_WEB, ticket_id=bob.id, author="Dana", text="Bob's lamp: call DHL"),
            AuditEntry(actor="dana", action="claim", target=ALICE_WEB),
            AuditEntry(actor="dana", action="claim", target=BOB_WEB),
            AuditEntry(actor="dana", action="ticket_status", target=f"conversation:tg_{ALICE_TG}"),
        ])
        numbers = [web.number, tg.number]
        bob_number = bob.number
    await add_events(tracker_engine, ALICE_WEB, [f"Hello, {ALICE_TEXT}!", ALICE_EMAIL, "thank you"])
    await add_events(tracker_engine, "tg_" + ALICE_TG, [f"my email is {ALICE_EMAIL}"])
    await add_events(tracker_engine, BOB_WEB, [BOB_TEXT])
    return Seeded(alice_tickets=[n for n in numbers if n], bob_ticket=bob_number or "")


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


async def dump(sessions: Any, tracker_engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every CareDesk table, and Rasa's events, as plain data."""
    tables: dict[str, list[dict[str, Any]]] = {}
    async with sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).mappings().all()
            tables[table.name] = [{k: _plain(v) for k, v in row.items()} for row in rows]
    async with tracker_engine.connect() as connection:
        rows = (await connection.execute(select(events).order_by(events.c.id))).mappings().all()
        tables["rasa.events"] = [dict(row) for row in rows]
    return tables


def mentions(tables: dict[str, list[dict[str, Any]]], needle: str, *, skip: tuple[str, ...] = ()) -> list[str]:
    """The tables (and rows) in which `needle` appears, ignoring case."""
    found = []
    for name, rows in tables.items():
        if name in skip:
            continue
        for row in rows:
            if needle.lower() in json.dumps(row, default=str).lower():
                found.append(f"{name}: {row}")
    return found


def rows_of(tables: dict[str, list[dict[str, Any]]], needle: str) -> list[str]:
    """Rows mentioning `needle`, as comparable text (to see another customer's rows unchanged)."""
    return sorted(json.dumps(row, default=str, sort_keys=True) for rows in tables.values() for row in rows
                  if needle.lower() in json.dumps(row, default=str).lower())
