"""The whole story with the real Rasa server and action server: the bot escalates, an agent
claims the conversation in the console, talks to the customer live, resolves it, and the
bot comes back to ask for the rating. Every step is in the database."""
import asyncio

import pytest
from sqlalchemy import select

from caredesk.db.models import Conversation, ConversationEvent, Feedback, Handoff, Message, Note
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import async_database_url
from tests.bot.conftest import ORIGIN, PASSWORD, log_in, start_client
from tests.bot.test_webchat import frames_until

pytestmark = pytest.mark.e2e


def is_message(frame: dict, sender: str, contains: str = "") -> bool:
    message = frame.get("message") or {}
    return frame.get("type") == "message" and message.get("from") == sender and contains in message.get("text", "")


async def test_escalate_claim_talk_resolve_and_rate(rasa_stack, make_settings) -> None:
    database_url = async_database_url(rasa_stack.database_url)
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    from bot.console.auth import create_agent
    async with sessions.begin() as session:
        await create_agent(session, "dana", "Dana", PASSWORD)
    client = await start_client(make_settings(database_url, rasa_stack.rasa_url_list, rasa_stack.token,
                                              channel_secret=rasa_stack.channel_secret))
    try:
        await log_in(client)
        console = await client.ws_connect("/ws/console", headers={"Origin": ORIGIN})
        hello = await console.receive_json()
        assert hello["agent"]["name"] == "Dana" and "canned" not in hello  # the console reads /api/canned
        assert (await console.receive_json())["type"] == "queue"

        chat = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        conversation_id = (await chat.receive_json())["conversation_id"]
        await chat.send_json({"type": "message", "text": "hello", "client_id": "1"})
        greeting = await frames_until(chat, lambda f: is_message(f, "bot"))
        assert any(f["type"] == "typing" and f["on"] for f in greeting), "typing indicator while the bot composes"
        assert "Northwind Goods" in greeting[-1]["message"]["text"]

        await chat.send_json({"type": "message", "text": "can I speak to a real person please", "client_id": "2"})
        await frames_until(chat, lambda f: is_message(f, "bot", "person"))
        # The stack's database is shared with other tests: look for this conversation's entry.
        queue = await frames_until(console, lambda f: f["type"] == "queue" and any(
            i["conversation_id"] == conversation_id for i in f["items"]))
        [item] = [i for i in queue[-1]["items"] if i["conversation_id"] == conversation_id]
        assert item["reason"] == "asked"
        assert item["status"] == "waiting" and item["preview"] == "can I speak to a real person please"

        await console.send_json({"type": "claim", "conversation_id": conversation_id})
        joined = await frames_until(chat, lambda f: is_message(f, "system", "Dana"))
        assert any(f["type"] == "agent_joined" and f["agent_name"] == "Dana" for f in joined)
        detail = (await frames_until(console, lambda f: f["type"] == "conversation"))[-1]["conversation"]
        assert detail["mode"] == "agent"
        summary = detail["handoff"]["summary"]  # in words; the stored dict stays in the database
        assert summary["wants"] == "Asked for a person before saying what about" and "intent" not in summary
        assert {"key": "why", "label": "Why a person", "text": "They asked for a person"} in summary["facts"]
        assert [m["text"] for m in detail["messages"] if m["from"] == "customer"] == ["hello", "can I speak to a real person please"]

        await console.send_json({"type": "send", "conversation_id": conversation_id, "text": "Hi, I'm Dana. How can I help?"})
        reply = (await frames_until(chat, lambda f: is_message(f, "agent")))[-1]["message"]
        assert reply["agent_name"] == "Dana" and reply["text"] == "Hi, I'm Dana. How can I help?"

        await chat.send_json({"type": "message", "text": "my parcel 10005533 is late", "client_id": "3"})
        seen = await frames_until(console, lambda f: f["type"] == "message" and f["message"]["from"] == "customer")
        assert seen[-1]["message"]["text"] == "my parcel 10005533 is late"
        await console.send_json({"type": "note", "conversation_id": conversation_id, "text": "Checked DHL: arrives tomorrow"})
        noted = (await frames_until(console, lambda f: f["type"] == "conversation"))[-1]["conversation"]
        assert noted["ticket"] is None, "an agent was online, so no ticket was needed"
        assert [n["note"] for n in noted["notes"]] == ["Checked DHL: arrives tomorrow"]

        await console.send_json({"type": "resolve", "conversation_id": conversation_id})
        back = await frames_until(chat, lambda f: is_message(f, "bot") and f["message"]["buttons"], seconds=30)
        assert any(f["type"] == "agent_left" for f in back)
        # Dana's part is rated first, by name; then the bot's part, apart.
        rating = back[-1]["message"]
        assert "Dana" in rating["text"]
        assert any(f["type"] == "state" and f["state"] == "closed" for f in back)
        async with sessions() as session:
            assert (await session.get(Conversation, conversation_id)).mode == "closed", "resolved: closed"
        assert '/inform{"agent_rating":"5"}' in [b["payload"] for b in rating["buttons"]]
        await chat.send_json({"type": "message", "text": "5 - Excellent", "payload": '/inform{"agent_rating":"5"}',
                              "client_id": "4"})
        rated = await frames_until(chat, lambda f: is_message(f, "bot") and f["message"]["buttons"])
        assert any(f["type"] == "state" and f["transition"] == "reopened" for f in rated), "the customer wrote again"
        bot_part = rated[-1]["message"]
        assert "before Dana joined" in bot_part["text"]
        assert '/inform{"rating":"3"}' in [b["payload"] for b in bot_part["buttons"]]
        await chat.send_json({"type": "message", "text": "3", "client_id": "4b"})  # typed, not a button
        await frames_until(chat, lambda f: is_message(f, "bot"))
        await chat.send_json({"type": "message", "text": "No, that's all", "payload": "/deny", "client_id": "5"})
        await frames_until(chat, lambda f: is_message(f, "bot"))
        await chat.close()
        await console.close()

        async with sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
            handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id))
            feedback = (await session.scalars(select(Feedback).where(Feedback.conversation_id == conversation_id)
                                              .order_by(Feedback.id))).all()
            note = await session.scalar(select(Note).where(Note.conversation_id == conversation_id))
            lines = (await session.scalars(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id))).all()
            events = (await session.scalars(select(ConversationEvent.transition).where(
                ConversationEvent.conversation_id == conversation_id).order_by(ConversationEvent.id))).all()
        assert conversation.mode == "bot" and conversation.agent_name is None
        assert events == ["handed_over", "claimed", "resolved", "reopened"]
        assert handoff.status == "ended" and handoff.claimed_by == "Dana"
        assert [(f.subject, f.rating, f.agent_username) for f in feedback] == [("agent", 5, "dana"), ("bot", 3, None)]
        assert {f.handoff_id for f in feedback} == {handoff.id} and {f.channel for f in feedback} == {"webchat"}
        assert note.text == "Checked DHL: arrives tomorrow" and note.author == "Dana"
        senders = [m.sender for m in lines]
        assert senders.count("agent") == 1 and senders.count("customer") == 6
        assert lines[senders.index("agent")].agent_name == "Dana"
    finally:
        await client.close()
        await engine.dispose()


async def test_a_complaint_answered_in_the_chat_while_nobody_is_online(rasa_stack, make_settings) -> None:
    """The customer wants the reply here, no agent is signed in: one ticket, one queue entry,
    and the gateway's notice does not hand out a second ticket number."""
    from caredesk.db.models import Ticket

    database_url = async_database_url(rasa_stack.database_url)
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    client = await start_client(make_settings(database_url, rasa_stack.rasa_url_list, rasa_stack.token,
                                              channel_secret=rasa_stack.channel_secret))
    try:
        chat = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        conversation_id = (await chat.receive_json())["conversation_id"]
        steps = [
            ("I want to make a complaint", "order"),
            ("It's not about an order", "went wrong"),
            ("The lamp arrived with its shade torn and the bulb socket loose", "like us to do"),
            ("A replacement please", "reach you"),
        ]
        for index, (text, expected) in enumerate(steps):
            await chat.send_json({"type": "message", "text": text, "client_id": f"s{index}",
                                  **({"payload": "/deny"} if index == 1 else {})})
            await frames_until(chat, lambda f: is_message(f, "bot", expected), seconds=30)
        await chat.send_json({"type": "message", "text": "Reply to me here in the chat",
                              "payload": '/inform{"contact":"chat"}', "client_id": "c"})
        await frames_until(chat, lambda f: is_message(f, "bot", "Is that right?"), seconds=30)
        await chat.send_json({"type": "message", "text": "Yes, that's right", "payload": "/affirm", "client_id": "y"})
        frames = await frames_until(chat, lambda f: is_message(f, "system", "queue"), seconds=30)
        said = [f["message"]["text"] for f in frames if f["type"] == "message" and f["message"]["from"] != "customer"]
        async with sessions() as session:
            [ticket] = (await session.scalars(select(Ticket).where(Ticket.conversation_id == conversation_id))).all()
            [handoff] = (await session.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id))).all()
            conversation = await session.get(Conversation, conversation_id)
        assert (ticket.contact_kind, handoff.reason, handoff.ticket_id) == ("chat", "reply_in_chat", ticket.id)
        assert conversation.mode == "queued"
        assert any(ticket.number in line and "right here in this chat" not in line for line in said)
        assert any("right here in this chat" in line for line in said)
        notice = [line for line in said if "queue" in line]
        assert notice and ticket.number not in notice[-1] and "CD-" not in notice[-1], said
        await chat.close()
        # The stack's database is shared: leave no waiting hand-off in the other tests' queue.
        async with sessions.begin() as session:
            (await session.get(Handoff, handoff.id)).status = "ended"
            (await session.get(Conversation, conversation_id)).mode = "bot"
    finally:
        await client.close()
        await engine.dispose()
