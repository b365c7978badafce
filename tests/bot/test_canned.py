"""Canned replies in the database: the seed from the YAML file, the JSON API (search for every
agent; add, change, delete for leads and admins, each audited), and the placeholders filled
for the open conversation, with gaps the desk refuses to send."""
from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from alembic import command
from sqlalchemy import select

from caredesk.db.migrate import alembic_config
from caredesk.db.models import AuditEntry, CannedReply, Message
from caredesk.settings import PROJECT_ROOT
from bot.console.placeholders import fill, unfilled, unknown_placeholders
from tests.bot.canned_data import claimed_chat, only_replies, shortcuts
from tests.bot.conftest import ORIGIN, add_agent, log_in

SEED = Path(PROJECT_ROOT / "bot" / "console" / "canned_replies.yml")
REFUND = "Hi {first_name}, I'm {agent_name}. Your refund for order {order_number} (ticket {ticket_number}) is on its way."


async def _audit(sessions, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                           .order_by(AuditEntry.id))).all())


async def test_migration_0007_seeds_the_replies_of_the_yaml_file(sessions, database_url: str) -> None:
    def again() -> None:
        config = alembic_config(database_url, configure_logging=False)
        command.downgrade(config, "0006")  # to the revision before 0007 (the canned replies)
        command.upgrade(config, "head")

    await asyncio.to_thread(again)
    seed = yaml.safe_load(SEED.read_text(encoding="utf-8"))["canned_replies"]
    async with sessions() as session:
        rows = (await session.scalars(select(CannedReply).order_by(CannedReply.id))).all()
    assert [(r.shortcut, r.title, r.text) for r in rows] == [(e["key"], e["title"], e["text"]) for e in seed]
    assert {r.created_by for r in rows} == {"migration"}
    assert all(not unknown_placeholders(r.text) for r in rows), "the seed uses only known placeholders"


async def test_a_lead_adds_changes_and_deletes_and_each_change_is_audited(gateway, sessions) -> None:
    await only_replies(sessions)
    await add_agent(sessions, "lee", "Lee", role="lead")
    await log_in(gateway, "lee")
    added = await gateway.post("/api/canned", json={"shortcut": "refund", "title": "Refund on its way", "text": REFUND},
                               headers={"Origin": ORIGIN})
    assert added.status == 201, await added.text()
    reply = await added.json()
    async with sessions() as session:
        row = await session.get(CannedReply, reply["id"])
        assert (row.shortcut, row.title, row.text, row.created_by, row.updated_by) == (
            "refund", "Refund on its way", REFUND, "lee", "lee")

    changed = await gateway.patch(f"/api/canned/{reply['id']}", json={"title": "Refund sent", "shortcut": "refund_sent"},
                                  headers={"Origin": ORIGIN})
    assert changed.status == 200 and (await changed.json())["shortcut"] == "refund_sent"
    assert await shortcuts(sessions) == ["refund_sent"]

    deleted = await gateway.delete(f"/api/canned/{reply['id']}", headers={"Origin": ORIGIN})
    assert deleted.status == 200 and await shortcuts(sessions) == []
    assert (await gateway.delete(f"/api/canned/{reply['id']}", headers={"Origin": ORIGIN})).status == 404

    add, change, gone = [await _audit(sessions, a) for a in ("canned_add", "canned_change", "canned_delete")]
    assert [(e.actor, e.target) for e in add] == [("lee", "refund")]
    assert [(e.actor, e.target) for e in change] == [("lee", "refund_sent")]
    assert change[0].detail["title"] == {"from": "Refund on its way", "to": "Refund sent"}
    assert [(e.actor, e.target) for e in gone] == [("lee", "refund_sent")]
    assert REFUND not in str(add[0].detail), "the audit log keeps no reply texts"


async def test_saving_refuses_unknown_placeholders_taken_shortcuts_and_bad_fields(gateway, sessions) -> None:
    await only_replies(sessions, ("thanks", "Thanks", "Thank you, {first_name}!"))
    await add_agent(sessions, "ada", "Ada", role="admin")
    await log_in(gateway, "ada")
    cases = [
        ({"shortcut": "x", "title": "X", "text": "Hello {firstname}"}, 400, "unknown placeholder {firstname}"),
        ({"shortcut": "thanks", "title": "Again", "text": "Thanks"}, 409, "/thanks is taken"),
        ({"shortcut": "Big Shortcut", "title": "X", "text": "Hi"}, 400, "shortcut"),
        ({"shortcut": "y" * 33, "title": "X", "text": "Hi"}, 400, "shortcut"),
        ({"shortcut": "long", "title": "X", "text": "a" * 2001}, 400, "1 to 2000"),
        ({"shortcut": "blank", "title": "X", "text": "   "}, 400, "1 to 2000"),
        ({"shortcut": "notitle", "title": "", "text": "Hi"}, 400, "title"),
        ({"shortcut": "gap", "title": "X", "text": "Hi \u27e6first_name\u27e7"}, 400, "gap marker"),
        ({"shortcut": "num", "title": 5, "text": "Hi"}, 400, "'title' must be a string"),
    ]
    for body, status, words in cases:
        answer = await gateway.post("/api/canned", json=body, headers={"Origin": ORIGIN})
        assert answer.status == status, body
        assert words in (await answer.json())["error"], body
    assert await shortcuts(sessions) == ["thanks"]
    assert await _audit(sessions, "canned_add") == []


async def test_search_finds_by_shortcut_title_and_text_shortcut_matches_first(gateway, sessions) -> None:
    await only_replies(sessions, ("apologise", "Apologise", "I'm sorry; we will refund the fee."),
                       ("refund", "Refund", "Your money is on its way."),
                       ("delay", "Late parcel", "Carriers are slow (100% true)."))
    await add_agent(sessions, "dana", "Dana", role="agent")
    await log_in(gateway, "dana")

    async def found(query: str) -> list[str]:
        answer = await gateway.get("/api/canned", params={"q": query})
        assert answer.status == 200
        return [r["shortcut"] for r in (await answer.json())["replies"]]

    assert await found("ref") == ["refund", "apologise"]
    assert await found("PARCEL") == ["delay"]
    assert await found("100%") == ["delay"] and await found("_") == [], "LIKE wildcards are plain characters"
    assert await found("") == ["apologise", "delay", "refund"]
    answer = await gateway.get("/api/canned", params={"limit": "1"})
    assert len((await answer.json())["replies"]) == 1 and (await answer.json())["can_manage"] is False
    assert (await gateway.get("/api/canned", params={"limit": "0"})).status == 400
    assert (await gateway.get("/api/canned", params={"q": "x" * 101})).status == 400


async def test_placeholders_are_filled_from_the_open_conversation(gateway, sessions) -> None:
    await only_replies(sessions, ("refund", "Refund", REFUND), ("promise", "Promise", "By {promised_time}."))
    await add_agent(sessions, "dana", "Dana", role="agent")
    number = await claimed_chat(sessions, "c_tom")
    await log_in(gateway, "dana")
    answer = await gateway.get("/api/canned", params={"q": "", "conversation_id": "c_tom"})
    filled = {r["shortcut"]: r["filled"] for r in (await answer.json())["replies"]}
    assert filled["refund"] == f"Hi Tom, I'm Dana. Your refund for order 10003310 (ticket {number}) is on its way."
    assert filled["promise"] == "By Tue 11:30.", "in the company's time zone (Berlin)"
    assert (await gateway.get("/api/canned", params={"conversation_id": "nope"})).status == 404


async def test_a_placeholder_without_a_value_leaves_a_gap_the_desk_will_not_send(gateway, sessions) -> None:
    await only_replies(sessions, ("refund", "Refund", REFUND))
    await add_agent(sessions, "dana", "Dana", role="agent")
    await claimed_chat(sessions, "c_anon", ticket=False)
    await log_in(gateway, "dana")
    answer = await gateway.get("/api/canned", params={"conversation_id": "c_anon"})
    text = (await answer.json())["replies"][0]["filled"]
    assert text == ("Hi \u27e6first_name\u27e7, I'm Dana. Your refund for order \u27e6order_number\u27e7 "
                    "(ticket \u27e6ticket_number\u27e7) is on its way.")

    console = await gateway.ws_connect("/ws/console", headers={"Origin": ORIGIN})
    assert (await console.receive_json())["type"] == "hello"
    assert (await console.receive_json())["type"] == "queue"
    for unsent in (text, "Hi {first_name}, thanks"):
        await console.send_json({"type": "send", "conversation_id": "c_anon", "text": unsent})
        refusal = await console.receive_json(timeout=5)
        assert refusal["type"] == "error" and "Fill in the gaps" in refusal["text"]
    await console.send_json({"type": "send", "conversation_id": "c_anon", "text": text.replace("\u27e6first_name\u27e7", "Jo")
                             .replace("\u27e6order_number\u27e7", "1").replace("\u27e6ticket_number\u27e7", "2")})
    await asyncio.sleep(0.3)
    await console.close()
    async with sessions() as session:
        sent = (await session.scalars(select(Message.text).where(Message.conversation_id == "c_anon",
                                                                 Message.sender == "agent"))).all()
    assert sent == ["Hi Jo, I'm Dana. Your refund for order 1 (ticket 2) is on its way."]


def test_fill_leaves_unknown_braces_and_marks_empty_values() -> None:
    assert fill("{first_name}: {x} {agent_name}", {"first_name": "  ", "agent_name": "Eli"}) == "\u27e6first_name\u27e7: {x} Eli"
    assert unfilled("Hi \u27e6first_name\u27e7") and unfilled("Hi {ticket_number}") and not unfilled("a {b} c")
    assert unknown_placeholders("{first_name} {Name} {} {a b}") == ["Name", ""]
