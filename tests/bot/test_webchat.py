"""The customer's WebSocket: stored before routed, history replayed, failures answered."""
import asyncio

from sqlalchemy import select

from actions.db.models import Conversation, Handoff, Message, Ticket
from tests.bot.conftest import ORIGIN


async def frames_until(ws, predicate, seconds: float = 10.0) -> list[dict]:
    seen = []
    async def collect():
        while True:
            frame = await ws.receive_json()
            seen.append(frame)
            if predicate(frame):
                return
    await asyncio.wait_for(collect(), seconds)
    return seen


def system_text(frame: dict) -> str:
    message = frame.get("message") or {}
    return message.get("text", "") if message.get("from") == "system" else ""


async def test_bot_down_customer_gets_a_polite_answer_a_ticket_and_a_queue_entry(gateway, sessions) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    hello = await ws.receive_json()
    assert hello["type"] == "hello" and hello["mode"] == "bot" and hello["history"] == []
    conversation_id = hello["conversation_id"]

    await ws.send_json({"type": "message", "text": "my parcel never came <b>help</b>", "client_id": "m1"})
    frames = await frames_until(ws, lambda f: "ticket" in system_text(f))
    echo = next(f for f in frames if f["type"] == "message" and f["message"]["from"] == "customer")
    assert echo["message"]["client_id"] == "m1" and echo["message"]["text"] == "my parcel never came <b>help</b>"
    polite = [system_text(f) for f in frames if system_text(f)]
    assert "technical problem" in polite[0]
    await ws.close()

    async with sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
        [handoff] = (await session.scalars(select(Handoff))).all()
        [ticket] = (await session.scalars(select(Ticket))).all()
        lines = (await session.scalars(select(Message).order_by(Message.id))).all()
    assert conversation.mode == "queued"
    assert handoff.reason == "bot_unavailable" and handoff.ticket_id == ticket.id
    assert ticket.number in polite[1] and ticket.description == "my parcel never came <b>help</b>"
    assert [m.sender for m in lines] == ["customer", "system", "system"]


async def test_history_survives_a_reconnect_and_queued_messages_skip_the_bot(gateway, sessions) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    conversation_id = (await ws.receive_json())["conversation_id"]
    await ws.send_json({"type": "message", "text": "first", "client_id": "a"})
    await frames_until(ws, lambda f: "ticket" in system_text(f))
    await ws.close()

    again = await gateway.ws_connect(f"/ws/chat?conversation={conversation_id}", headers={"Origin": ORIGIN})
    hello = await again.receive_json()
    assert hello["conversation_id"] == conversation_id and hello["mode"] == "queued"
    assert [m["from"] for m in hello["history"]] == ["customer", "system", "system"]
    assert hello["history"][0]["text"] == "first"
    # Queued: the message is stored and echoed, and nothing else happens (no bot, no error).
    await again.send_json({"type": "message", "text": "hello?", "client_id": "b"})
    echo = await again.receive_json()
    assert echo["message"]["text"] == "hello?"
    await asyncio.sleep(0.3)
    async with sessions() as session:
        senders = (await session.scalars(select(Message.sender).order_by(Message.id))).all()
    assert senders == ["customer", "system", "system", "customer"]
    await again.close()

    stranger = await gateway.ws_connect("/ws/chat?conversation=c_made_up", headers={"Origin": ORIGIN})
    fresh = await stranger.receive_json()
    assert fresh["conversation_id"] != "c_made_up" and fresh["history"] == []
    await stranger.close()


async def test_bad_frames_get_a_polite_error_and_the_socket_keeps_working(gateway) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    await ws.receive_json()
    await ws.send_str("this is not json")
    assert (await ws.receive_json())["type"] == "error"
    await ws.send_json({"type": "message", "text": "x" * 2001})
    too_long = await ws.receive_json()
    assert too_long["type"] == "error" and "too long" in too_long["text"]
    await ws.send_json({"type": "message", "text": "still there?"})
    assert (await ws.receive_json())["message"]["text"] == "still there?"
    await ws.close()


async def test_a_resent_message_is_stored_and_routed_once(gateway, sessions) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    conversation_id = (await ws.receive_json())["conversation_id"]
    await ws.send_json({"type": "message", "text": "hello", "client_id": "same"})
    await frames_until(ws, lambda f: "ticket" in system_text(f))
    await ws.send_json({"type": "message", "text": "hello", "client_id": "same"})
    again = await ws.receive_json()
    assert again["message"]["client_id"] == "same"
    await ws.close()
    async with sessions() as session:
        customer_lines = (await session.scalars(select(Message).where(
            Message.conversation_id == conversation_id, Message.sender == "customer"))).all()
    assert len(customer_lines) == 1
