"""Bringing in a person. The bot records a queue entry with everything the agent needs, tells
the customer when to expect an answer, and pauses (ConversationPaused) so it stays silent.
The gateway resumes the conversation and sends /handoff_ended when the agent is done."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import sentiment
from actions.base import Resources, channel_of, polite_on_failure
from caredesk.db import repository
from actions.ticket_status import own_ticket
from caredesk.triage import describe_deadline, prioritise, promised_response_at

# Slots that are company facts or bookkeeping, not something the customer told us.
NOT_FOR_SUMMARY = {
    "shop_name", "website", "support_hours", "contact_channels", "delivery_options",
    "delivery_period", "return_window_days", "refund_days", "refund_policy", "payment_methods",
    "cancellation_fees", "self_service", "requested_slot", "verify_attempts", "handoff_id",
    "session_started_metadata",
}
REASON_SEVERITY = {
    "asked": "formal_complaint",
    "not_understood": "grumble",
    "negative_sentiment": "formal_complaint",
    "churn_threat": "threat_to_leave",
}
REASON_RESPONSE = {
    "asked": "utter_handoff_requested",
    "not_understood": "utter_handoff_not_understood",
    "churn_threat": "utter_handoff_churn",
}
RECENT = 6


# Sent as a custom message with the hand-off reply, so the gateway looks for the new hand-off
# in the database only after the turns that made one (not after every message).
HANDOFF_SIGNAL = {"caredesk": "handoff"}
CMDLINE = "cmdline"  # Rasa's input channel for `rasa shell`


def pause_listening(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Stop the bot in this conversation and tell the gateway. The pause ends the prediction
    loop before Rasa would log action_listen, so it is logged here: when the gateway resumes
    the conversation, the next message is then read like any other and the hand-back rules
    apply. `make shell` (Rasa's cmdline channel) has no gateway, and would print the signal
    as raw JSON, so it does not get it."""
    if channel_of(tracker) != CMDLINE:
        dispatcher.utter_message(json_message=HANDOFF_SIGNAL)
    return [ActionExecuted("action_listen"), ConversationPaused()]


def handoff_summary(
    tracker: Tracker, *, reason: str, ticket_number: str | None, feeling: sentiment.Mood
) -> dict[str, Any]:
    """What the agent sees first, so the customer never has to repeat themselves."""
    user_events = [e for e in tracker.events if e.get("event") == "user"]
    intents = [
        (e.get("parse_data") or {}).get("intent", {}).get("name") for e in user_events[-RECENT:]
    ]
    return {
        "reason": reason,
        "intent": tracker.latest_message.get("intent", {}).get("name"),
        "recent_intents": [i for i in intents if i],
        "recent_messages": [e.get("text") for e in user_events[-RECENT:] if e.get("text")],
        "slots": {
            name: value
            for name, value in tracker.current_slot_values().items()
            if value is not None and name not in NOT_FOR_SUMMARY
        },
        "sentiment": feeling.latest,
        "sentiment_min": feeling.lowest,
        "ticket": ticket_number,
        "customer_tier": tracker.get_slot("customer_tier"),
    }


class EscalatingAction(Resources, Action, ABC):
    """Shared by every path that hands the conversation to a person (abstract, so rasa-sdk's
    loader does not register it as an action)."""

    @abstractmethod
    def name(self) -> str: ...

    async def escalate(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, reason: str
    ) -> list[EventType]:
        now = self.now()
        feeling = sentiment.mood_of(tracker)
        priority = prioritise(
            severity=REASON_SEVERITY[reason],
            sentiment=feeling.lowest,
            tier=tracker.get_slot("customer_tier"),
        )
        promised = promised_response_at(now, priority.label, self.company)
        async with self.sessions.begin() as session:
            # Only a ticket this conversation made or proved: a number the customer merely
            # mentioned must not show its owner to the agent, nor take the agent's reply.
            ticket = await own_ticket(session, tracker, tracker.get_slot("ticket_number"))
            ticket_id, ticket_number = (ticket.id, ticket.number) if ticket else (None, None)
            handoff = await repository.create_handoff(
                session,
                conversation_id=tracker.sender_id,
                channel=channel_of(tracker),
                reason=reason,
                priority=priority.label,
                priority_score=priority.score,
                summary=handoff_summary(tracker, reason=reason, ticket_number=ticket_number, feeling=feeling),
                promised_response_at=promised,
                ticket_id=ticket_id,
            )
        promised_text = describe_deadline(handoff.promised_response_at, now, self.company)
        dispatcher.utter_message(response=REASON_RESPONSE[reason], promised_time=promised_text)
        return [
            SlotSet("handoff_id", float(handoff.id)),
            SlotSet("promised_time", promised_text),
            *pause_listening(dispatcher, tracker),
        ]


class ActionHandoff(EscalatingAction):
    def name(self) -> str:
        return "action_handoff"

    @polite_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = tracker.latest_message.get("intent", {}).get("name")
        churn = intent == "threaten_to_leave" or sentiment.mood_of(tracker).churn_threat
        return await self.escalate(dispatcher, tracker, "churn_threat" if churn else "asked")


class ActionHandleFallback(EscalatingAction):
    """First miss: ask to rephrase. Second miss in a row: bring in a person."""

    def name(self) -> str:
        return "action_handle_fallback"

    @polite_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if missed_before(tracker.events):
            return await self.escalate(dispatcher, tracker, "not_understood")
        # "You are useless": asking an annoyed customer to rephrase would be tone-deaf.
        text = tracker.latest_message.get("text") or ""
        upset = sentiment.mentions_leaving(text) or sentiment.level(sentiment.score(text)) != "neutral"
        dispatcher.utter_message(response="utter_rephrase_upset" if upset else "utter_rephrase")
        return []


def missed_before(events: list[dict[str, Any]]) -> bool:
    """Whether the customer's previous message was a miss too: the bot answered it with this
    fallback. Its NLU intent alone does not say so: an email address or an order number typed
    into a form parses as nlu_fallback, yet the form took it as an answer."""
    users = [index for index, event in enumerate(events) if event.get("event") == "user"]
    if len(users) < 2:
        return False
    between = events[users[-2] + 1:users[-1]]
    return any(e.get("event") == "action" and e.get("name") == "action_handle_fallback" for e in between)


class ActionHandoffEnded(Resources, Action):
    def name(self) -> str:
        return "action_handoff_ended"

    @polite_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        agent_name = None
        async with self.sessions.begin() as session:
            handoff = await repository.end_handoff(session, tracker.sender_id)
            if handoff is None:
                handoff = await repository.latest_handoff(session, tracker.sender_id)
            # One hand-off ends in one rating, once: a second ending rates nobody's part of it.
            if handoff is not None and not await repository.mark_rating_asked(session, handoff.id, self.now()):
                handoff = None
            if handoff is not None and handoff.claimed_by:
                agent_name = handoff.claimed_by  # a person took part: their name, as the customer saw it
        dispatcher.utter_message(response="utter_handoff_ended")
        # The rating that follows asks about the person's part and the bot's part apart, when
        # a person took part; answers from an earlier rating never carry over.
        return [
            SlotSet("handoff_id", float(handoff.id) if handoff else None),
            SlotSet("rate_agent", agent_name is not None),
            SlotSet("agent_name", agent_name),
            *[SlotSet(slot, None) for slot in ("rating", "agent_rating", "feedback_comment") if tracker.get_slot(slot)],
        ]
