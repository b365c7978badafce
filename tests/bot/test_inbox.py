"""The Inbox's query (bot/console/inbox.py): each view, each kind of search and each filter
finds exactly the right conversations, on SQLite and PostgreSQL, in one statement."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from bot.console import inbox
from bot.console.inbox import Cursor, Filters
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
