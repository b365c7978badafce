"""Roles and ownership: an agent works only on their own or unclaimed chats, a lead on any,
a trainer sees no customer data, and only admins manage agents and read the audit log."""
from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import func, select

from caredesk.db.models import Agent, AgentSession, Conversation, ConversationEvent, Handoff, Message, Note, Ticket, TicketEvent
from tests.bot.conftest import ORIGIN, PASSWORD, add_agent
from tests.security.conftest import answer, make_chat, open_console, quiet

NEW_PASSWORD = "a brand new password"


async def _past_presence(console: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The next message that is not an `agents` frame."""
    while True:
        message = await console.receive(timeout=5)
        if message.type != aiohttp.WSMsgType.TEXT or '"type": "agents"' not in message.data:
            return message


async def _state(sessions, conversation_id: str) -> tuple:  # type: ignore[no-untyped-def]
    """Everything an action on the chat could change."""
    async with sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id))
        ticket = await session.scalar(select(Ticket).where(Ticket.conversation_id == conversation_id))
        return (
            conversation.mode, conversation.agent_username, handoff.status, handoff.agent_username,
            ticket.status if ticket else None, ticket.first_response_at if ticket else None,
            await session.scalar(select(func.count()).select_from(Note).where(Note.conversation_id == conversation_id)),
            await session.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)),
            await session.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
            if ticket else 0,
        )


async def test_an_agent_cannot_touch_another_agents_claimed_chat(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "eli", "Eli", role="agent")
    number = await make_chat(sessions, "c_danas", ("dana", "Dana"))
    before = await _state(sessions, "c_danas")
    eli = await sign_in("eli")
    console, hello = await open_console(eli)
    assert hello["agent"]["role"] == "agent" and "work_any" not in hello["permissions"]

    for frame in (
        {"type": "note", "conversation_id": "c_danas", "text": "sneaky note"},
        {"type": "ticket_status", "conversation_id": "c_danas", "status": "in_progress"},
        {"type": "send", "conversation_id": "c_danas", "text": "hello from eli"},
        {"type": "resolve", "conversation_id": "c_danas"},
        {"type": "hand_back", "conversation_id": "c_danas"},
        {"type": "claim", "conversation_id": "c_danas"},
    ):
        reply = await answer(console, frame)
        assert reply["type"] == "error", frame
    await console.send_json({"type": "typing", "conversation_id": "c_danas", "on": True})
    assert not [f for f in await quiet(console) if f["type"] != "queue"]

    patched = await eli.patch(f"/api/tickets/{number}", json={"status": "in_progress"})
    assert patched.status == 403 and "Dana" in (await patched.json())["error"]
    assert await _state(sessions, "c_danas") == before, "nothing in Dana's chat changed"

    # Unclaimed chats are anyone's: the same agent may note and change the ticket there.
    await make_chat(sessions, "c_waiting", None)
    assert (await answer(console, {"type": "open", "conversation_id": "c_waiting"}))["type"] == "conversation"
    noted = await answer(console, {"type": "note", "conversation_id": "c_waiting", "text": "looked at it"})
    assert noted["type"] == "conversation" and [n["note"] for n in noted["conversation"]["notes"]] == ["looked at it"]
    await console.close()


async def test_a_lead_can_take_over_and_work_in_any_chat(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "lee", "Lee", role="lead")
    number = await make_chat(sessions, "c_danas", ("dana", "Dana"))
    lee = await sign_in("lee")
    console, hello = await open_console(lee)
    assert hello["agent"]["role"] == "lead" and "work_any" in hello["permissions"]
    assert (await answer(console, {"type": "open", "conversation_id": "c_danas"}))["type"] == "conversation"

    noted = await answer(console, {"type": "note", "conversation_id": "c_danas", "text": "lead's note"})
    assert noted["type"] == "conversation"
    changed = await answer(console, {"type": "ticket_status", "conversation_id": "c_danas", "status": "in_progress"})
    assert changed["type"] == "conversation" and changed["conversation"]["ticket"]["status"] == "in_progress"
    patched = await lee.patch(f"/api/tickets/{number}", json={"status": "resolved"})
    assert patched.status == 200
    took = await answer(console, {"type": "claim", "conversation_id": "c_danas"})
    assert took["type"] == "conversation" and took["conversation"]["agent_name"] == "Lee"
    sent = await answer(console, {"type": "send", "conversation_id": "c_danas", "text": "Lee here"},
                        until=("error", "message"))
    assert sent["type"] == "message" and sent["message"]["text"] == "Lee here"
    async with sessions() as session:
        conversation = await session.get(Conversation, "c_danas")
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == "c_danas"))
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        notes = (await session.scalars(select(Note.author).where(Note.conversation_id == "c_danas"))).all()
    assert (conversation.agent_username, handoff.agent_username, handoff.claimed_by) == ("lee", "lee", "Lee")
    assert ticket.status == "resolved" and list(notes) == ["Lee"]
    # Lee gives it back unresolved: with the assistant again, not closed.
    back = await answer(console, {"type": "hand_back", "conversation_id": "c_danas"})
    assert back["type"] != "error", back
    async with sessions() as session:
        events = (await session.execute(select(ConversationEvent.transition, ConversationEvent.actor).where(
            ConversationEvent.conversation_id == "c_danas").order_by(ConversationEvent.id))).all()
    # (no Rasa runs here, so the bot's turn after it queues the chat again: bot_unavailable)
    assert [tuple(e) for e in events][-2:] == [("handed_back", "agent:lee"), ("bot_unavailable", "gateway")]
    await console.close()


async def test_a_trainer_sees_no_conversations_tickets_or_reports(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "tess", "Tess", role="trainer")
    number = await make_chat(sessions, "c_any", None)
    tess = await sign_in("tess")
    for path in ("/api/tickets", f"/api/tickets/{number}", "/api/conversations", "/api/conversations/c_any",
                 "/api/feedback", "/api/reports", "/api/satisfaction", "/api/agents", "/api/audit"):
        response = await tess.get(path)
        assert response.status == 403, path
        assert "role" in (await response.json())["error"]
    assert (await tess.patch(f"/api/tickets/{number}", json={"status": "in_progress"})).status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await tess.ws_connect("/ws/console", headers={"Origin": ORIGIN})
    assert refused.value.status == 403
    page = await tess.get("/console")
    assert page.status == 200 and "Training" in await page.text() and "queue-list" not in await page.text()
    for path in ("/console/reports", "/console/agents", "/console/audit"):
        assert (await tess.get(path, allow_redirects=False)).status == 403, path
    async with sessions() as session:
        assert (await session.scalar(select(Ticket.status).where(Ticket.number == number))) == "open"


async def test_only_admins_reach_agent_management_and_the_audit_log(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "ada", "Ada", role="admin")
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "lee", "Lee", role="lead")
    dana, lee, ada = await sign_in("dana"), await sign_in("lee"), await sign_in("ada")
    for who in (dana, lee):
        assert (await who.get("/api/agents")).status == 403
        assert (await who.get("/api/audit")).status == 403
        added = await who.post("/api/agents", json={"username": "mallory", "name": "M", "password": PASSWORD,
                                                    "role": "admin"})
        assert added.status == 403
        assert (await who.patch("/api/agents/dana", json={"role": "admin"})).status == 403
        assert (await who.post("/api/agents/ada/password", json={"password": NEW_PASSWORD})).status == 403
        assert (await who.get("/console/agents", allow_redirects=False)).status == 403
        assert (await who.get("/console/audit", allow_redirects=False)).status == 403
    assert (await dana.get("/api/reports")).status == 403 and (await lee.get("/api/reports")).status == 200
    assert (await dana.get("/console/reports", allow_redirects=False)).status == 403
    assert (await ada.get("/api/agents")).status == 200 and (await ada.get("/api/audit")).status == 200
    assert (await ada.get("/console/agents")).status == 200 and (await ada.get("/console/audit")).status == 200
    async with sessions() as session:
        roles = dict((await session.execute(select(Agent.username, Agent.role))).all())
    assert roles == {"ada": "admin", "dana": "agent", "lee": "lead"}, "no refused change went through"


async def test_an_admin_adds_changes_resets_and_deactivates_agents(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "ada", "Ada", role="admin")
    ada = await sign_in("ada")
    added = await ada.post("/api/agents", json={"username": "eli", "name": "Eli", "password": PASSWORD,
                                                "role": "agent"})
    assert added.status == 201 and await added.json() == {**(await added.json()), "username": "eli", "role": "agent",
                                                          "active": True}
    assert "password" not in await added.text() and PASSWORD not in await added.text()
    for bad, status in (({"username": "eli", "name": "Eli", "password": PASSWORD}, 409),
                        ({"username": "new", "name": "New", "password": "short"}, 400),
                        ({"username": "new", "name": "New", "password": PASSWORD, "role": "root"}, 400),
                        ({"username": "<b>x</b>", "name": "X", "password": PASSWORD}, 400),
                        ({"username": ["x"], "name": "X", "password": PASSWORD}, 400),
                        ([1, 2], 400)):
        refused = await ada.post("/api/agents", json=bad)
        assert refused.status == status, bad
        assert "error" in await refused.json()
    assert (await ada.post("/api/agents", data="not json")).status == 400
    assert (await ada.patch("/api/agents/nobody", json={"role": "lead"})).status == 404
    assert (await ada.patch("/api/agents/eli", json={"active": "no"})).status == 400

    eli = await sign_in("eli")
    console, hello = await open_console(eli)
    assert hello["agent"]["role"] == "agent"
    promoted = await ada.patch("/api/agents/eli", json={"role": "lead", "name": "Eli B."})
    assert promoted.status == 200 and (await promoted.json())["role"] == "lead"
    closed = await console.receive(timeout=5)
    assert closed.type == aiohttp.WSMsgType.CLOSE and console.close_code == 4000, "the console reconnects"
    console, hello = await open_console(eli)
    assert hello["agent"] == {"username": "eli", "name": "Eli B.", "role": "lead"}

    reset = await ada.post("/api/agents/eli/password", json={"password": NEW_PASSWORD})
    assert reset.status == 200 and NEW_PASSWORD not in await reset.text()
    closed = await _past_presence(console)  # a lead's console is told who is online
    assert closed.type == aiohttp.WSMsgType.CLOSE and console.close_code == 4401
    assert (await eli.get("/api/tickets")).status == 401, "a reset ends the agent's sessions"
    eli = await sign_in("eli", NEW_PASSWORD)
    console, _ = await open_console(eli)

    off = await ada.patch("/api/agents/eli", json={"active": False})
    assert off.status == 200 and (await off.json())["active"] is False
    closed = await _past_presence(console)  # a lead's console is told who is online
    assert closed.type == aiohttp.WSMsgType.CLOSE and console.close_code == 4401, "the open console stops at once"
    assert (await eli.get("/api/tickets")).status == 401, "so does the API"
    async with sessions() as session:
        agent = await session.scalar(select(Agent).where(Agent.username == "eli"))
        left = await session.scalar(select(func.count()).select_from(AgentSession).where(AgentSession.agent_id == agent.id))
    assert (agent.active, agent.role, agent.name, left) == (False, "lead", "Eli B.", 0)
    refused = await eli.post("/console/login", data={"username": "eli", "password": NEW_PASSWORD}, allow_redirects=False)
    assert refused.headers["Location"] == "/console/login?error=1"
    assert (await ada.patch("/api/agents/eli", json={"active": True})).status == 200
    await sign_in("eli", NEW_PASSWORD)


async def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "ada", "Ada", role="admin")
    await add_agent(sessions, "bea", "Bea", role="agent")
    ada = await sign_in("ada")
    for change in ({"role": "lead"}, {"active": False}, {"role": "agent", "active": False}):
        refused = await ada.patch("/api/agents/ada", json=change)
        assert refused.status == 409 and "last active admin" in (await refused.json())["error"], change
    async with sessions() as session:
        assert (await session.execute(select(Agent.role, Agent.active).where(Agent.username == "ada"))).one() == ("admin", True)
    assert (await ada.patch("/api/agents/bea", json={"role": "admin"})).status == 200
    assert (await ada.patch("/api/agents/ada", json={"role": "lead"})).status == 200, "with a second admin it may"
    assert (await ada.get("/api/agents")).status == 403, "and the demotion takes effect at once"


async def test_cross_site_writes_to_the_admin_api_are_refused(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "ada", "Ada", role="admin")
    ada = await sign_in("ada")
    refused = await ada.post("/api/agents", json={"username": "eve", "name": "Eve", "password": PASSWORD},
                             headers={"Origin": "http://evil.example"})
    assert refused.status == 403
    async with sessions() as session:
        assert await session.scalar(select(Agent).where(Agent.username == "eve")) is None


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(gateway, sessions, sign_in) -> None:
    import asyncio

    await add_agent(sessions, "ada", "Ada", role="admin")
    await add_agent(sessions, "bea", "Bea", role="admin")
    ada, bea = await sign_in("ada"), await sign_in("bea")
    answers = await asyncio.gather(ada.patch("/api/agents/bea", json={"role": "agent"}),
                                   bea.patch("/api/agents/ada", json={"role": "agent"}))
    assert sorted(a.status for a in answers) == [200, 409]
    async with sessions() as session:
        admins = (await session.scalars(select(Agent.username).where(Agent.role == "admin"))).all()
    assert len(admins) == 1


def test_the_permission_matrix() -> None:
    from bot.console.roles import PERMISSIONS, ROLES, can, permissions_of

    class Someone:
        def __init__(self, role: str) -> None:
            self.role = role

    assert set().union(*PERMISSIONS.values()) <= set(ROLES)
    assert permissions_of("trainer") == ["training"]
    assert permissions_of("agent") == ["conversations", "work"]
    assert permissions_of("lead") == ["assign", "canned_manage", "conversations", "presence", "reports", "training",
                                      "work", "work_any"]
    assert {p for p in PERMISSIONS if can(Someone("admin"), p)} == set(PERMISSIONS)
    assert not can(Someone("admin"), "no_such_permission") and not can(None, "conversations")
    assert not can(Someone("root"), "conversations"), "an unknown role has nothing"
