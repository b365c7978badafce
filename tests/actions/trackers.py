"""Small builders for rasa-sdk trackers, the way Rasa sends them to the action server."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from caredesk.db.models import Conversation, Handoff
from caredesk.handoff_request import HandoffRequest


def user_event(text: str, intent: str, entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": entities or []},
        "input_channel": "rest",
    }


def tracker(
    text: str = "",
    intent: str = "inform",
    *,
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    history: list[dict[str, Any]] | None = None,
    extracted: dict[str, Any] | None = None,
    sender_id: str = "conv-1",
    active_loop: str | None = None,
    channel: str = "rest",
    client: str | None = None,
) -> Tracker:
    """A tracker whose latest message is `text`; `extracted` are the slots just filled (what a
    form's validation action is asked to validate)."""
    slots = dict(slots or {})
    slots.update(extracted or {})
    metadata: dict[str, Any] = {"channel": channel} if channel != "rest" else {}
    if client:
        metadata["client"] = client  # the gateway's key for the sender's address
    events = list(history or []) + [user_event(text, intent, entities)]
    events += [{"event": "slot", "name": k, "value": v} for k, v in (extracted or {}).items()]
    return Tracker(
        sender_id=sender_id,
        slots=slots,
        latest_message={
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "entities": entities or [],
            "metadata": metadata,
        },
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def responses(dispatcher: Any) -> list[str]:
    """The named replies (custom messages such as the hand-off signal left out)."""
    return [message.get("response") for message in dispatcher.messages if not message.get("custom")]


def signals(dispatcher: Any) -> list[dict[str, Any]]:
    return [message["custom"] for message in dispatcher.messages if message.get("custom")]


def requests(dispatcher: Any) -> list[HandoffRequest]:
    """The hand-off requests an action sent the gateway with its reply."""
    found = [HandoffRequest.from_message(custom) for custom in signals(dispatcher)]
    assert None not in found, "every custom message of ours is a well-formed request"
    return found  # type: ignore[return-value]


async def carried_out(sessions: Any, dispatcher: Any, conversation_id: str, channel: str = "webchat") -> Handoff:
    """What the gateway does with an action's request (bot/lifecycle.py), for the tests that
    follow a hand-off further: the conversation waits for a person with this hand-off."""
    from bot import lifecycle

    [request] = requests(dispatcher)
    async with sessions.begin() as session:
        if await session.get(Conversation, conversation_id) is None:
            session.add(Conversation(id=conversation_id, channel=channel, mode="bot"))
            await session.flush()
        _, handoff = await lifecycle.hand_over(session, conversation_id, request)
    return handoff
