"""The audit log: sign-ins, failed sign-ins, sign-outs, agent actions and agent management
leave rows (never a reply's text or a password), and admins read them newest first."""
from __future__ import annotations

from sqlalchemy import select

from caredesk.db.models import AuditEntry
from tests.bot.conftest import PASSWORD, add_agent
from tests.security.conftest import answer, make_chat, open_console

SECRET_TEXT = "the customer's card ends 4242"


async def _rows(sessions) -> list[tuple]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    return [(e.actor, e.action, e.target, e.detail, e.address) for e in entries]


async def test_sign_in_failed_sign_in_and_sign_out_are_audited(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    wrong = await gateway.post("/console/login", data={"username": "dana", "password": "not it at all"},
                               allow_redirects=False)
    assert wrong.headers["Location"] == "/console/login?error=1"
    await gateway.post("/console/login", data={"username": "nobody", "password": PASSWORD}, allow_redirects=False)
    dana = await sign_in("dana")
    await dana.post("/console/logout", allow_redirects=False)
    rows = await _rows(sessions)
    assert [(actor, action, target) for actor, action, target, _, _ in rows] == [
        ("dana", "sign_in_failed", None), ("nobody", "sign_in_failed", None),
        ("dana", "sign_in", "dana"), ("dana", "sign_out", "dana"),
    ]
    assert rows[2][3] == {"role": "agent"}
    assert all(address == "127.0.0.1" for *_, address in rows)
    assert not any(PASSWORD in str(row) or "not it at all" in str(row) for row in rows)


async def test_claim_reply_note_ticket_change_and_resolve_are_audited(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    number = await make_chat(sessions, "c_audit", None)
    dana = await sign_in("dana")
    console, _ = await open_console(dana)
    assert (await answer(console, {"type": "claim", "conversation_id": "c_audit"}))["type"] == "conversation"
    sent = await answer(console, {"type": "send", "conversation_id": "c_audit", "text": SECRET_TEXT},
                        until=("error", "message"))
    assert sent["type"] == "message"
    assert (await answer(console, {"type": "note", "conversation_id": "c_audit", "text": "internal"}))["type"] == "conversation"
    assert (await answer(console, {"type": "ticket_status", "conversation_id": "c_audit",
                                   "status": "in_progress"}))["type"] == "conversation"
    assert (await dana.patch(f"/api/tickets/{number}", json={"status": "resolved"})).status == 200
    await console.close()
    rows = [row for row in await _rows(sessions) if row[1] != "sign_in"]
    assert [(actor, action, target, detail) for actor, action, target, detail, _ in rows] == [
        ("dana", "claim", "c_audit", None),
        ("dana", "reply", "c_audit", {"characters": len(SECRET_TEXT)}),
        ("dana", "note", "c_audit", {"ticket": number}),
        ("dana", "ticket_status", number, {"conversation_id": "c_audit", "from": "open", "to": "in_progress"}),
        ("dana", "ticket_status", number, {"conversation_id": "c_audit", "from": "in_progress", "to": "resolved"}),
    ]
    assert not any(SECRET_TEXT in str(row) or "internal" in str(row) for row in rows), "no texts in the log"


async def test_a_leads_take_over_names_the_agent_it_was_taken_from(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "lee", "Lee", role="lead")
    await make_chat(sessions, "c_taken", ("dana", "Dana"))
    console, _ = await open_console(await sign_in("lee"))
    assert (await answer(console, {"type": "claim", "conversation_id": "c_taken"}))["type"] == "conversation"
    await console.close()
    assert ("lee", "claim", "c_taken", {"took_over_from": "dana"}) in [row[:4] for row in await _rows(sessions)]


async def test_agent_management_is_audited_and_admins_read_the_log(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "ada", "Ada", role="admin")
    ada = await sign_in("ada")
    assert (await ada.post("/api/agents", json={"username": "eli", "name": "Eli", "password": PASSWORD})).status == 201
    assert (await ada.patch("/api/agents/eli", json={"role": "lead"})).status == 200
    assert (await ada.post("/api/agents/eli/password", json={"password": "another long one"})).status == 200
    assert (await ada.patch("/api/agents/eli", json={"active": False})).status == 200
    rows = [row[:4] for row in await _rows(sessions) if row[0] == "ada" and row[1] != "sign_in"]
    assert rows == [
        ("ada", "agent_add", "eli", {"role": "agent"}),
        ("ada", "agent_change", "eli", {"role": {"from": "agent", "to": "lead"}}),
        ("ada", "agent_password_reset", "eli", None),
        ("ada", "agent_change", "eli", {"active": False}),
    ]
    assert "another long one" not in str(await _rows(sessions))

    page = await (await ada.get("/api/audit")).json()
    assert [e["action"] for e in page["entries"]] == [
        "agent_change", "agent_password_reset", "agent_change", "agent_add", "sign_in"], "newest first"
    assert page["next_before"] is None
    first = await (await ada.get("/api/audit?limit=2")).json()
    assert [e["action"] for e in first["entries"]] == ["agent_change", "agent_password_reset"]
    second = await (await ada.get(f"/api/audit?limit=2&before={first['next_before']}")).json()
    assert [e["action"] for e in second["entries"]] == ["agent_change", "agent_add"]
    only = await (await ada.get("/api/audit?action=agent_change")).json()
    assert [e["detail"] for e in only["entries"]] == [{"active": False}, {"role": {"from": "agent", "to": "lead"}}]
    assert [e["action"] for e in (await (await ada.get("/api/audit?actor=nobody")).json())["entries"]] == []
    for bad in ("limit=abc", "before=-1", "limit=0"):
        refused = await ada.get(f"/api/audit?{bad}")
        assert refused.status == 400 and "error" in await refused.json(), bad
