"""The Inbox's query (bot/console/inbox.py): each view, each kind of search and each filter
finds exactly the right conversations, on SQLite and PostgreSQL, in one statement."""
from __future__ import annotations

import pytest
from sqlalchemy import event, select

from caredesk.db import repository
from caredesk.db.models import AuditEntry, Note
from bot.console import inbox
from bot.console import tickets as tickets_view
from bot.console.customers import customer_profile
from bot.console.inbox import Cursor, Filters
from bot.console.tickets import TicketFilters
from tests.bot.conftest import ORIGIN, add_agent, log_in
from tests.bot.inbox_data import GRINDING, HOUR, seed_inbox
from tests.conftest import FIXED_NOW

ALL = ["c_live", "tg_555", "c_eli", "c_bot", "rest_offhours", "c_closed"]


async def ids(sessions, **arguments) -> list[str]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        rows, _ = await inbox.search(session, agent=arguments.pop("agent", "dana"), now=FIXED_NOW, **arguments)
    return [row["conversation_id"] for row in rows]


@pytest.mark.parametrize("view, expected", [
    ("all", ALL),
    ("mine", ["c_live"]),
    ("unassigned", ["tg_555", "rest_offhours"]),
    ("open", ["c_live", "tg_555", "c_eli", "rest_offhours"]),
    ("waiting", ["c_live"]),
    ("resolved", ["c_closed"]),
])
async def test_each_view_returns_its_rows_latest_activity_first(sessions, view: str, expected: list[str]) -> None:
    await seed_inbox(sessions)
    assert await ids(sessions, view=view) == expected


async def test_mine_is_the_signed_in_agents(sessions) -> None:
    await seed_inbox(sessions)
    assert await ids(sessions, view="mine", agent="eli") == ["c_eli"]
    assert await ids(sessions, view="mine", agent="nobody") == []


@pytest.mark.parametrize("q, expected", [
    ("maria", ["c_live", "rest_offhours"]),  # name, any case
    ("MARIA.LOPEZ@EXAMPLE.COM", ["c_live", "rest_offhours"]),  # email
    ("aisha.khan@example", ["c_closed"]),
    ("+44 7700", ["c_closed"]),  # phone
    ("cd-100003", ["c_closed"]),  # ticket number, as typed
    ("CD100002", ["tg_555"]),
    ("CD-1000", []),  # a number matches exactly, never as a prefix
    ("grinding NOISE", ["c_closed"]),  # words in the transcript
    ("c_eli", ["c_eli"]),  # the conversation id itself
])
async def test_search_kinds(sessions, q: str, expected: list[str]) -> None:
    await seed_inbox(sessions)
    assert await ids(sessions, q=q) == expected


@pytest.mark.parametrize("q, expected", [
    ("%", ["tg_555", "c_bot"]),  # only lines with a real percent sign
    ("50%", ["c_bot"]),
    ("_", ["tg_555"]),  # an underscore is no single-character wildcard
    ("\\", []),
    ("' OR 1=1 --", []),
])
async def test_wildcards_in_q_are_literal(sessions, q: str, expected: list[str]) -> None:
    await seed_inbox(sessions)
    assert await ids(sessions, q=q) == expected


async def test_a_transcript_hit_shows_the_matching_line_and_the_row_carries_its_ticket_and_customer(sessions) -> None:
    customers = await seed_inbox(sessions)
    async with sessions() as session:
        rows, cursor = await inbox.search(session, view="all", q="grinding", agent="dana", now=FIXED_NOW)
    assert cursor is None
    [row] = rows
    assert row["snippet"] == GRINDING and row["state"] == "closed" and row["sla"] == "met"
    assert row["customer"] == {"id": customers["aisha"], "name": "Aisha Khan", "tier": "new"}
    assert row["ticket"]["number"] == "CD-100003" and row["ticket"]["status"] == "resolved"
    assert row["last_from"] == "agent" and row["last_activity"] == (FIXED_NOW - 26 * HOUR).isoformat()


@pytest.mark.parametrize("filters, expected", [
    (Filters(channel="telegram"), ["tg_555"]),
    (Filters(channel="rest"), ["rest_offhours"]),
    (Filters(priority="urgent"), ["tg_555"]),
    (Filters(category="billing_error"), ["rest_offhours"]),
    (Filters(sla="overdue"), ["tg_555"]),
    (Filters(sla="due_soon"), ["c_eli"]),
    (Filters(sla="ok"), ["rest_offhours"]),
    (Filters(sla="met"), ["c_live", "c_closed"]),
    (Filters(sla="none"), ["c_bot"]),
    (Filters(agent="eli"), ["c_eli"]),
    (Filters(agent="dana"), ["c_live", "c_closed"]),  # c_closed: Dana claimed it last
    (Filters(priority="normal", sla="due_soon"), ["c_eli"]),
])
async def test_filters(sessions, filters: Filters, expected: list[str]) -> None:
    await seed_inbox(sessions)
    assert await ids(sessions, filters=filters) == expected


async def test_customer_filter_finds_every_conversation_of_a_customer_across_channels(sessions) -> None:
    customers = await seed_inbox(sessions)
    assert await ids(sessions, filters=Filters(customer_id=customers["tom"])) == ["tg_555", "c_eli"]


async def test_pages_follow_the_cursor_without_gaps_or_repeats(sessions) -> None:
    await seed_inbox(sessions)
    seen, cursor = [], None
    async with sessions() as session:
        for _ in range(4):
            rows, cursor = await inbox.search(session, agent="dana", limit=2, before=cursor, now=FIXED_NOW)
            seen += [row["conversation_id"] for row in rows]
            if cursor is None:
                break
            cursor = Cursor.decode(cursor.encode())  # as the page sends it back
    assert seen == ALL and cursor is None


async def test_one_statement_however_many_rows(sessions) -> None:
    await seed_inbox(sessions)
    statements: list[str] = []
    async with sessions() as session:
        engine = session.bind.sync_engine if hasattr(session.bind, "sync_engine") else session.bind
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listen)
        try:
            await inbox.search(session, agent="dana", q="maria", now=FIXED_NOW)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
    assert len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]) == 1


async def numbers(sessions, **arguments) -> list[str]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        rows, _ = await tickets_view.tickets(session, now=FIXED_NOW, **arguments)
    return [row["number"] for row in rows]


@pytest.mark.parametrize("filters, expected", [
    (TicketFilters(), ["CD-100005", "CD-100004", "CD-100003", "CD-100002", "CD-100001"]),
    (TicketFilters(status="in_progress"), ["CD-100005", "CD-100001"]),
    (TicketFilters(priority="urgent"), ["CD-100002"]),
    (TicketFilters(channel="rest"), ["CD-100004"]),
    (TicketFilters(sla="overdue"), ["CD-100002"]),
    (TicketFilters(agent="dana"), ["CD-100003", "CD-100001"]),  # CD-100003: Dana claimed its chat last
])
async def test_tickets_view_lists_every_ticket_newest_first(sessions, filters: TicketFilters,
                                                            expected: list[str]) -> None:
    await seed_inbox(sessions)
    assert await numbers(sessions, filters=filters) == expected


async def test_tickets_view_pages_and_carries_times_and_assignee(sessions) -> None:
    await seed_inbox(sessions)
    async with sessions() as session:
        first, cursor = await tickets_view.tickets(session, limit=3, now=FIXED_NOW)
        second, last = await tickets_view.tickets(session, limit=3, before=cursor, now=FIXED_NOW)
    assert [t["number"] for t in first + second] == ["CD-100005", "CD-100004", "CD-100003", "CD-100002", "CD-100001"]
    assert last is None
    resolved = first[2]
    assert resolved["handled_by"] == "dana" and resolved["sla"] == "met" and resolved["conversation_state"] == "closed"
    assert resolved["promised_response_at"] == (FIXED_NOW - 28 * HOUR).isoformat()
    assert resolved["first_response_at"] == (FIXED_NOW - 29 * HOUR).isoformat()
    assert resolved["resolved_at"] == (FIXED_NOW - 26 * HOUR).isoformat()
    offhours = first[1]
    assert offhours["conversation_state"] is None and offhours["handled_by"] is None and offhours["sla"] == "ok"


async def test_ticket_detail_has_its_history_and_conversations(sessions) -> None:
    await seed_inbox(sessions)
    async with sessions() as session:
        detail = await tickets_view.ticket_detail(session, "cd100003", now=FIXED_NOW)
        offhours = await tickets_view.ticket_detail(session, "CD-100004", now=FIXED_NOW)
        with pytest.raises(repository.TicketNotFound):
            await tickets_view.ticket_detail(session, "CD-999999")
    assert [(h["kind"], h["actor"]) for h in detail["history"]] == [
        ("created", "bot"), ("note", "Dana"), ("status_changed", "agent:dana")]
    assert detail["history"][1]["note"] == "Courier confirmed"
    assert [c["conversation_id"] for c in detail["conversations"]] == ["c_closed"]
    assert detail["customer"]["name"] == "Aisha Khan"
    assert offhours["conversations"] == [] and offhours["conversation_id"] == "rest_offhours"


async def test_customer_panel_lists_every_conversation_and_ticket_across_channels(sessions) -> None:
    customers = await seed_inbox(sessions)
    async with sessions() as session:
        tom = await customer_profile(session, conversation_id="c_eli", agent="dana", now=FIXED_NOW)
        by_id = await customer_profile(session, customer_id=customers["tom"], agent="dana", now=FIXED_NOW)
        nobody = await customer_profile(session, conversation_id="c_bot", agent="dana", now=FIXED_NOW)
    assert tom == by_id and nobody is None
    assert (tom["name"], tom["tier"], tom["email"]) == ("Tom Becker", "vip", "tom.becker@example.com")
    assert [(c["conversation_id"], c["channel"]) for c in tom["conversations"]] == [
        ("tg_555", "telegram"), ("c_eli", "webchat")]
    assert [t["number"] for t in tom["tickets"]] == ["CD-100005", "CD-100002"]
    assert {o["number"] for o in tom["orders"]} == {"10003310", "10002200"} and tom["truncated"] is False


async def test_the_api_searches_as_the_signed_in_agent(gateway, sessions) -> None:
    await seed_inbox(sessions)
    await add_agent(sessions, "eli", "Eli", role="agent")
    await log_in(gateway, "eli")
    mine = await (await gateway.get("/api/inbox", params={"view": "mine"})).json()
    assert [row["conversation_id"] for row in mine["items"]] == ["c_eli"] and mine["next"] is None
    found = await (await gateway.get("/api/inbox", params={"q": "aisha.khan@example.com", "view": "resolved"})).json()
    assert [row["conversation_id"] for row in found["items"]] == ["c_closed"]
    paged = await (await gateway.get("/api/inbox", params={"limit": "4"})).json()
    rest = await (await gateway.get("/api/inbox", params={"limit": "4", "before": paged["next"]})).json()
    assert [row["conversation_id"] for row in paged["items"] + rest["items"]] == ALL
    panel = await (await gateway.get("/api/inbox/customer", params={"conversation_id": "c_closed"})).json()
    assert panel["name"] == "Aisha Khan" and [c["conversation_id"] for c in panel["conversations"]] == ["c_closed"]
    tickets_page = await (await gateway.get("/api/inbox/tickets", params={"status": "in_progress"})).json()
    assert [t["number"] for t in tickets_page["tickets"]] == ["CD-100005", "CD-100001"]


async def test_a_ticket_is_worked_without_a_live_chat(gateway, sessions) -> None:
    """The off-hours ticket has no conversation row at all: an agent still moves it on and
    notes what they did, and both land in its history and the audit log."""
    await seed_inbox(sessions)
    await add_agent(sessions, "dana", "Dana", role="agent")
    await log_in(gateway, "dana")
    headers = {"Origin": ORIGIN}
    moved = await gateway.post("/api/inbox/tickets/cd-100004/status", json={"status": "in_progress"}, headers=headers)
    assert moved.status == 200 and (await moved.json())["status"] == "in_progress"
    noted = await gateway.post("/api/inbox/tickets/CD-100004/notes", json={"text": "Called Maria back"},
                               headers=headers)
    detail = await noted.json()
    assert [(h["kind"], h["actor"]) for h in detail["history"]] == [("status_changed", "agent:dana"), ("note", "Dana")]
    async with sessions() as session:
        ticket = await repository.ticket_by_number(session, "CD-100004")
        note = await session.scalar(select(Note).where(Note.ticket_id == ticket.id))
        audit = (await session.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.target)
                                       .order_by(AuditEntry.id))).all()
    assert ticket.status == "in_progress"
    assert (note.conversation_id, note.author, note.text) == ("rest_offhours", "Dana", "Called Maria back")
    assert [tuple(row) for row in audit if row[1] != "sign_in"] == [
        ("dana", "ticket_status", "CD-100004"), ("dana", "note", "rest_offhours")]
