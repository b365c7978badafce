"""Privacy: export and erase one customer (admins only, API and command line), and retention.
On SQLite and PostgreSQL, with a scratch database for Rasa's tracker store on the same backend."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from caredesk.db.models import Agent, AuditEntry, Conversation, Handoff, Message, Ticket, utcnow
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import PROJECT_ROOT
from bot.privacy import retention
from bot.privacy.tracker import events
from tests.bot.conftest import ORIGIN, add_agent, log_in, make_settings, start_client  # noqa: F401 (fixture)
from tests.security.privacy_data import (  # noqa: F401 (fixtures)
    ALICE_EMAIL, ALICE_PHONE, ALICE_TEXT, ALICE_TG, ALICE_TRACES, ALICE_WEB, BOB_TEXT, BOB_WEB, add_chat,
    add_events, add_handoff, add_ticket, dump, mentions, rows_of, seed_two_customers, tracker_engine, tracker_url,
)

SHOP_TABLES = ("customers", "orders")  # the shop's own records: not CareDesk's to erase


@pytest.fixture
async def privacy_gateway(sessions, database_url: str, tracker_url: str, tracker_engine,  # type: ignore[no-untyped-def]
                          make_settings) -> AsyncIterator[TestClient]:
    """The gateway with Rasa's tracker store configured; retention off."""
    settings = dataclasses.replace(make_settings(database_url), tracker_store_url=tracker_url)
    client = await start_client(settings)
    try:
        yield client
    finally:
        await client.close()


async def add_admin(sessions: Any, username: str = "ada") -> None:
    await add_agent(sessions, username, "Ada")
    async with sessions.begin() as session:
        await session.execute(update(Agent).where(Agent.username == username).values(role="admin"))


async def reports(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/reports?days=366")
    assert response.status == 200
    report = await response.json()
    report.pop("since", None)
    report["satisfaction"].pop("since", None)
    # An erased customer's rating comments go with them (the ratings stay, and count): the
    # comments are checked on their own (erased_comments_gone).
    report.pop("comments", None)
    return report


async def erased_comments_gone(client: TestClient) -> None:
    comments = (await (await client.get("/api/reports?days=366")).json())["comments"]
    for trace in ALICE_TRACES:
        assert trace not in json.dumps(comments), trace


async def test_find_by_each_kind_of_identifier(privacy_gateway, sessions, tracker_engine) -> None:
    seeded = await seed_two_customers(sessions, tracker_engine)
    async with sessions.begin() as session:  # someone else's address that contains hers
        await add_chat(session, "c_lookalike", [("customer", f"I am m{ALICE_EMAIL}work, ok?")])
    await add_events(tracker_engine, "rest_lookalike", [f"write to {ALICE_EMAIL}.org"])
    await add_admin(sessions)
    await log_in(privacy_gateway, "ada")

    async def found(**query: str) -> tuple[list[str], list[str]]:
        response = await privacy_gateway.get("/api/privacy/customer", params=query)
        assert response.status == 200, await response.text()
        body = await response.json()
        return [c["id"] for c in body["conversations"]], [t["number"] for t in body["tickets"]]

    # The email finds her ticket's chat, and the Telegram chat where she only typed it.
    assert await found(email=ALICE_EMAIL.upper()) == (sorted([ALICE_WEB, "tg_" + ALICE_TG]), seeded.alice_tickets)
    # The phone as stored on the ticket ("07700 900999"), asked in the international form.
    assert await found(phone=ALICE_PHONE) == (["tg_" + ALICE_TG], seeded.alice_tickets[1:])
    assert await found(ticket=seeded.alice_tickets[0].lower()) == ([ALICE_WEB], seeded.alice_tickets[:1])
    assert await found(telegram=ALICE_TG) == (["tg_" + ALICE_TG], seeded.alice_tickets[1:])
    assert await found(conversation=BOB_WEB) == ([BOB_WEB], [seeded.bob_ticket])
    # The shop customer by email: his record, and his ticket through his customer id.
    body = await (await privacy_gateway.get("/api/privacy/customer", params={"email": "tom.becker@example.com"})).json()
    assert body["customer"]["name"] == "Tom Becker" and [t["number"] for t in body["tickets"]] == [seeded.bob_ticket]
    assert await found(email="nobody@example.org") == ([], [])

    for bad in ({}, {"email": "not-an-email"}, {"email": ALICE_EMAIL, "phone": ALICE_PHONE}, {"telegram": "x1"},
                {"colour": "blue"}, {"phone": "12"}, {"email": "a@b.c" + "x" * 300}):
        response = await privacy_gateway.get("/api/privacy/customer", params=bad)
        assert response.status == 400 and "error" in await response.json()


async def test_export_has_the_customer_and_nobody_else(privacy_gateway, sessions, tracker_engine) -> None:
    seeded = await seed_two_customers(sessions, tracker_engine)
    await add_admin(sessions)
    await log_in(privacy_gateway, "ada")

    response = await privacy_gateway.get("/api/privacy/customer/export", params={"email": ALICE_EMAIL})
    assert response.status == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    document = await response.json()
    text = json.dumps(document)
    conversations = {c["id"]: c for c in document["conversations"]}
    assert set(conversations) == {ALICE_WEB, "tg_" + ALICE_TG}
    assert [line["text"] for line in conversations[ALICE_WEB]["transcript"]][0] == f"Hello, {ALICE_TEXT}!"
    assert any(e["data"]["text"] == ALICE_EMAIL for e in conversations[ALICE_WEB]["tracker_events"]
               if e["type"] == "user")
    assert [t["number"] for t in document["tickets"]] == seeded.alice_tickets
    assert document["tickets"][0]["events"][0]["kind"] == "created"
    assert [n["text"] for n in document["notes"]] == ["Upset about the teapot"]
    assert [h["summary"]["recent_messages"] for h in document["handoffs"]] == [[ALICE_TEXT]]
    assert sorted(f["rating"] for f in document["feedback"]) == [2, 3, 5]
    assert document["customer"] is None  # a guest: no shop account
    for bobs in (BOB_WEB, BOB_TEXT, seeded.bob_ticket, "hallway", "Bob's lamp", "tom.becker"):
        assert bobs not in text

    async with sessions() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy_export"))
    assert entry is not None and entry.actor == "ada" and entry.target == f"email:{ALICE_EMAIL}"
    assert entry.detail["conversations"] == 2 and entry.detail["tickets"] == 2
    assert ALICE_TEXT not in json.dumps(entry.detail)

    tom = await (await privacy_gateway.get("/api/privacy/customer/export",
                                           params={"email": "tom.becker@example.com"})).json()
    assert tom["customer"]["email"] == "tom.becker@example.com"
    assert {o["number"] for o in tom["customer"]["orders"]} == {"10003310", "10002200"}
    assert ALICE_TEXT not in json.dumps(tom)


async def test_erase_leaves_nothing_of_the_customer_and_reports_unchanged(
        privacy_gateway, sessions, tracker_engine) -> None:
    seeded = await seed_two_customers(sessions, tracker_engine)
    await add_admin(sessions)
    await log_in(privacy_gateway, "ada")
    assert (await privacy_gateway.get("/api/privacy/customer/export", params={"email": ALICE_EMAIL})).status == 200
    before = await dump(sessions, tracker_engine)
    assert mentions(before, ALICE_TEXT) and mentions(before, ALICE_WEB)  # the check below can fail
    report_before = await reports(privacy_gateway)

    wrong = await privacy_gateway.post("/api/privacy/customer/erase", json={"email": ALICE_EMAIL, "confirm": "yes"})
    assert wrong.status == 400
    assert await dump(sessions, tracker_engine) == before

    response = await privacy_gateway.post("/api/privacy/customer/erase",
                                          json={"email": ALICE_EMAIL, "confirm": f" {ALICE_EMAIL.upper()} "})
    assert response.status == 200, await response.text()
    result = await response.json()
    assert result["counts"] == {"conversations": 2, "messages": 4, "tickets": 2, "handoffs": 1, "feedback": 3,
                                "notes": 1, "tracker_events": 8}

    after = await dump(sessions, tracker_engine)
    for trace in ALICE_TRACES:
        assert mentions(after, trace) == [], trace
    # Bob's rows are exactly as they were; the reports count the same.
    for bobs in (BOB_WEB, BOB_TEXT, seeded.bob_ticket, "tom.becker@example.com"):
        assert rows_of(after, bobs) == rows_of(before, bobs)
    assert await reports(privacy_gateway) == report_before
    await erased_comments_gone(privacy_gateway)
    # Anonymous rows remain for the reports: tickets keep number and category, not the words.
    async with sessions() as session:
        tickets = (await session.scalars(select(Ticket).where(Ticket.number.in_(seeded.alice_tickets)))).all()
        assert {(t.category, t.description, t.contact, t.order_number, t.customer_id) for t in tickets} == \
            {("damaged_item", "[erased]", "[erased]", None, None)}
        assert all(t.conversation_id.startswith("erased_") for t in tickets)
        erase_entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy_erase"))
        assert erase_entry.actor == "ada" and erase_entry.target == f"erased:{result['reference']}"
        assert erase_entry.detail["messages"] == 4 and erase_entry.detail["asked_by"] == "email"
        # The export's audit entry stays, without her email.
        export_entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy_export"))
        assert export_entry.target == f"erased:{result['reference']}"

    # What is left is no one's: not found by the old ticket number nor by the pseudonym.
    for query in ({"ticket": seeded.alice_tickets[0]}, {"conversation": tickets[0].conversation_id}):
        body = await (await privacy_gateway.get("/api/privacy/customer", params=query)).json()
        assert body["found"] is False and body["tickets"] == [] and body["conversations"] == []
    # Idempotent: nothing found, nothing changed (but the attempt is in the audit log).
    again = await privacy_gateway.post("/api/privacy/customer/erase", json={"email": ALICE_EMAIL, "confirm": ALICE_EMAIL})
    assert again.status == 200
    assert set((await again.json())["counts"].values()) == {0}
    final = await dump(sessions, tracker_engine)
    assert {k: v for k, v in final.items() if k != "audit_log"} == {k: v for k, v in after.items() if k != "audit_log"}


async def test_erase_by_shop_customer_keeps_the_shop_records(privacy_gateway, sessions, tracker_engine) -> None:
    seeded = await seed_two_customers(sessions, tracker_engine)
    await add_admin(sessions)
    await log_in(privacy_gateway, "ada")
    before = await dump(sessions, tracker_engine)
    response = await privacy_gateway.post("/api/privacy/customer/erase",
                                          json={"phone": "+49 151 5550 1002", "confirm": "+49 151 5550 1002"})
    assert response.status == 200
    after = await dump(sessions, tracker_engine)
    for trace in (BOB_WEB, BOB_TEXT, "hallway", "Bob's lamp", "+49 151 5550 1002", "10003310"):
        assert mentions(after, trace, skip=SHOP_TABLES) == [], trace
    assert after["customers"] == before["customers"] and after["orders"] == before["orders"]
    assert rows_of(after, ALICE_TEXT) == rows_of(before, ALICE_TEXT)
    async with sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == seeded.bob_ticket))
        assert ticket.customer_id is None and ticket.contact == "[erased]"


async def test_only_admins_and_only_from_the_console_origin(privacy_gateway, sessions, tracker_engine) -> None:
    await seed_two_customers(sessions, tracker_engine)
    query = {"email": ALICE_EMAIL}
    assert (await privacy_gateway.get("/api/privacy/customer", params=query)).status == 401
    assert (await privacy_gateway.post("/api/privacy/customer/erase", json={**query, "confirm": ALICE_EMAIL})).status == 401
    page = await privacy_gateway.get("/console/privacy", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/console/login"

    await add_agent(sessions, "dana", "Dana")  # an agent, not an admin
    await log_in(privacy_gateway, "dana")
    before = await dump(sessions, tracker_engine)
    for response in (await privacy_gateway.get("/api/privacy/customer", params=query),
                     await privacy_gateway.get("/api/privacy/customer/export", params=query),
                     await privacy_gateway.post("/api/privacy/customer/erase", json={**query, "confirm": ALICE_EMAIL}),
                     await privacy_gateway.get("/console/privacy")):
        assert response.status == 403
    assert await dump(sessions, tracker_engine) == before  # not even an audit row

    await add_admin(sessions)
    await log_in(privacy_gateway, "ada")
    before = await dump(sessions, tracker_engine)
    assert (await privacy_gateway.get("/console/privacy")).status == 200
    cross = await privacy_gateway.post("/api/privacy/customer/erase", json={**query, "confirm": ALICE_EMAIL},
                                       headers={"Origin": "https://evil.example"})
    assert cross.status == 403
    for body in ("not json", "[1, 2]", '{"email": 5}'):
        response = await privacy_gateway.post("/api/privacy/customer/erase", data=body,
                                              headers={"Origin": ORIGIN, "Content-Type": "application/json"})
        assert response.status == 400 and "error" in await response.json()
    assert await dump(sessions, tracker_engine) == before


async def test_erase_waits_while_a_person_handles_the_conversation(privacy_gateway, sessions, tracker_engine) -> None:
    await seed_two_customers(sessions, tracker_engine)
    async with sessions.begin() as session:
        add_handoff(session, ALICE_WEB, None, "are you there?", status="claimed")
    await add_admin(sessions)
    await log_in(privacy_gateway, "ada")
    before = await dump(sessions, tracker_engine)
    response = await privacy_gateway.post("/api/privacy/customer/erase", json={"email": ALICE_EMAIL, "confirm": ALICE_EMAIL})
    assert response.status == 409
    assert (await response.json())["conversations"] == [ALICE_WEB]
    assert await dump(sessions, tracker_engine) == before


async def seed_ages(sessions: Any, tracker_engine: Any) -> None:
    """Conversations of different ages and states for the retention tests (period: 90 days)."""
    async with sessions.begin() as session:
        await add_chat(session, "c_old", [("customer", "old secret words"), ("bot", "old reply")], days_ago=120)
        await add_chat(session, "c_recent", [("customer", "recent words"), ("bot", "reply")], days_ago=10)
        # Started long ago, but the customer wrote again last week.
        await add_chat(session, "c_revived", [("customer", "first words")], days_ago=200)
        session.add(Message(conversation_id="c_revived", sender="customer", text="new words", buttons=[],
                            created_at=utcnow() - timedelta(days=7)))
        await add_chat(session, "c_old_handoff", [("customer", "still waiting for a person")], days_ago=120,
                       mode="queued")
        add_handoff(session, "c_old_handoff", None, "still waiting", status="waiting", days_ago=120)
        await add_chat(session, "c_old_ticket", [("customer", "open ticket words")], days_ago=120)
        await add_ticket(session, "c_old_ticket", "open@example.org", "email", "open ticket words", days_ago=120)
        await add_chat(session, "c_old_closed", [("customer", "closed ticket words")], days_ago=120)
        await add_ticket(session, "c_old_closed", "closed@example.org", "email", "closed ticket words",
                         status="closed", days_ago=120)
        add_handoff(session, "c_old_closed", None, "closed ticket words", days_ago=120)
        # A resolved ticket from long ago in a chat the customer still uses.
        await add_ticket(session, "c_recent", "resolved@example.org", "email", "resolved long ago",
                         status="resolved", days_ago=150)
    await add_events(tracker_engine, "c_old", ["old secret words"], days_ago=120)
    await add_events(tracker_engine, "c_recent", ["recent words"], days_ago=10)
    await add_events(tracker_engine, "rest_old", ["rest old words"], days_ago=100)  # only Rasa has these
    await add_events(tracker_engine, "rest_new", ["rest new words"], days_ago=1)


async def _conversation_ids(sessions: Any) -> set[str]:
    async with sessions() as session:
        return set((await session.scalars(select(Conversation.id))).all())


async def _senders(tracker_engine: Any) -> set[str]:
    async with tracker_engine.connect() as connection:
        return set((await connection.scalars(select(events.c.sender_id).distinct())).all())


async def test_retention_erases_old_conversations_and_keeps_recent_and_open_ones(
        privacy_gateway, sessions, tracker_engine) -> None:
    await seed_ages(sessions, tracker_engine)
    await add_admin(sessions)
    await log_in(privacy_gateway, "ada")
    report_before = await reports(privacy_gateway)

    totals = await retention.purge(sessions, tracker_engine, 90)

    assert totals["conversations"] == 2 and totals["tickets"] == 2  # c_old_closed's and c_recent's old one
    ids = await _conversation_ids(sessions)
    assert {"c_recent", "c_revived", "c_old_handoff", "c_old_ticket"} <= ids
    assert not ids & {"c_old", "c_old_closed"}
    assert await _senders(tracker_engine) == {"c_recent", "rest_new"}
    after = await dump(sessions, tracker_engine)
    for gone in ("old secret words", "closed ticket words", "closed@example.org", "resolved@example.org",
                 "rest old words", "resolved long ago"):
        assert mentions(after, gone) == [], gone
    for kept in ("recent words", "first words", "still waiting for a person", "open ticket words"):
        assert mentions(after, kept), kept
    assert await reports(privacy_gateway) == report_before
    async with sessions() as session:
        purges = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy_purge"))).all()
        assert purges and all(entry.actor == "system" for entry in purges)

    assert set((await retention.purge(sessions, tracker_engine, 90)).values()) == {0}  # nothing left
    assert await retention.purge(sessions, tracker_engine, 0) == {k: 0 for k in totals}  # 0: off


async def test_two_gateways_purging_at_once(sessions, database_url: str, tracker_engine) -> None:
    async with sessions.begin() as session:
        for index in range(60):  # more than one batch
            await add_chat(session, f"c_{index:03}", [("customer", f"words {index}"), ("bot", "reply")], days_ago=100)
    other = make_engine(database_url)
    try:
        first, second = await asyncio.gather(retention.purge(sessions, tracker_engine, 30),
                                             retention.purge(make_sessions(other), tracker_engine, 30),
                                             return_exceptions=True)
    finally:
        await other.dispose()
    for outcome in (first, second):
        assert not isinstance(outcome, Exception) or "locked" in str(outcome), outcome
    async with sessions() as session:
        # A round that lost the race is simply retried by the next round.
        await retention.purge(sessions, tracker_engine, 30)
        kept = (await session.execute(select(Conversation.mode, func.count()).group_by(Conversation.mode))).all()
        lines = await session.scalar(select(func.count()).select_from(Message))
    assert dict(kept) == {"erased": 60} and lines == 60  # one empty line per conversation, once


async def test_retention_job_runs_in_the_gateway(sessions, database_url: str, tracker_url: str, tracker_engine,
                                                 make_settings) -> None:
    await seed_ages(sessions, tracker_engine)
    settings = dataclasses.replace(make_settings(database_url), tracker_store_url=tracker_url, retention_days=90)
    client = await start_client(settings)
    try:
        for _ in range(100):
            if "c_old" not in await _conversation_ids(sessions):
                break
            await asyncio.sleep(0.05)
    finally:
        await client.close()
    ids = await _conversation_ids(sessions)
    assert "c_old" not in ids and "c_recent" in ids


async def _cli(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=PROJECT_ROOT, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate(stdin.encode())
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_command_line_find_export_erase_and_purge(sessions, database_url: str, tracker_url: str,
                                                        tracker_engine, tmp_path) -> None:
    await seed_two_customers(sessions, tracker_engine)
    env = {**os.environ, "DATABASE_URL": database_url, "TRACKER_STORE_URL": tracker_url, "RETENTION_DAYS": "0"}

    code, out, _ = await _cli(env, "privacy", "find", "--telegram", ALICE_TG)
    assert code == 0 and [c["id"] for c in json.loads(out)["conversations"]] == ["tg_" + ALICE_TG]
    code, out, _ = await _cli(env, "privacy", "export", "--email", ALICE_EMAIL, "--out", str(tmp_path / "alice.json"))
    assert code == 0
    exported = json.loads((tmp_path / "alice.json").read_text(encoding="utf-8"))
    assert ALICE_TEXT in json.dumps(exported) and BOB_TEXT not in json.dumps(exported)
    code, out, err = await _cli(env, "privacy", "find", "--email", "nope")
    assert code == 2 and "not an email address" in err

    code, out, _ = await _cli(env, "privacy", "erase", "--email", ALICE_EMAIL, stdin="no\n")
    assert code == 1 and "nothing was erased" in out
    assert mentions(await dump(sessions, tracker_engine), ALICE_TEXT)
    code, out, _ = await _cli(env, "privacy", "erase", "--email", ALICE_EMAIL, stdin=ALICE_EMAIL + "\n")
    assert code == 0 and "Erased (reference" in out
    after = await dump(sessions, tracker_engine)
    for trace in ALICE_TRACES:
        assert mentions(after, trace) == [], trace
    async with sessions() as session:
        actors = set((await session.scalars(select(AuditEntry.actor).where(
            AuditEntry.action.in_(("privacy_export", "privacy_erase"))))).all())
    assert actors == {"cli"}

    code, out, _ = await _cli(env, "purge")
    assert code == 0 and "Retention is off" in out
    async with sessions.begin() as session:
        await session.execute(update(Message).where(Message.conversation_id == BOB_WEB)
                              .values(created_at=utcnow() - timedelta(days=40)))
        await session.execute(update(Ticket).where(Ticket.conversation_id == BOB_WEB).values(status="resolved"))
        await session.execute(update(Handoff).values(status="ended"))
    code, out, _ = await _cli(env, "purge", "--days", "30")
    assert code == 0 and '"conversations": 1' in out
    assert BOB_WEB not in await _conversation_ids(sessions)
