"""Bringing in a person. The bot asks the gateway for one (a HandoffRequest with everything
the agent needs, sent with its reply), tells the customer when to expect an answer, and
pauses (ConversationPaused) so it stays silent. The gateway's state machine (bot/lifecycle.py)
queues the conversation; it resumes it and sends /handoff_ended when the agent is done."""
from __future__ import annotations

from abc import ABC, abstractmethod
import datetime as dt
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import sentiment
from actions.base import Resources, channel_of, polite_on_failure
from caredesk.db import repository
from caredesk.handoff_request import HandoffRequest
from caredesk.triage import Priority, describe_deadline, prioritise, promised_response_at
from actions.ticket_status import own_ticket

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


CMDLINE = "cmdline"  # Rasa's input channel for `rasa shell`


def ask_for_a_person(dispatcher: CollectingDispatcher, tracker: Tracker, request: HandoffRequest) -> list[EventType]:
    """Ask the gateway for a person and stop the bot in this conversation. The pause ends the
    prediction loop before Rasa would log action_listen, so it is logged here: when the
    gateway resumes the conversation, the next message is then read like any other and the
    hand-back rules apply. `make shell` (Rasa's cmdline channel) has no gateway, and would
    print the request as raw JSON, so it does not get it."""
    if channel_of(tracker) != CMDLINE:
        dispatcher.utter_message(json_message=request.to_message())
    return [ActionExecuted("action_listen"), ConversationPaused()]


def request_for(tracker: Tracker, *, reason: str, priority: Priority, promised: dt.datetime,
                ticket: tuple[int, str] | None, feeling: sentiment.Mood) -> HandoffRequest:
    """The request the gateway carries out: why, how urgent, and the agent's summary."""
    return HandoffRequest(
        reason=reason, priority=priority.label, priority_score=priority.score, promised_response_at=promised,
        summary=handoff_summary(tracker, reason=reason, ticket_number=ticket[1] if ticket else None, feeling=feeling),
        ticket_id=ticket[0] if ticket else None,
    )


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
        request = request_for(tracker, reason=reason, priority=priority, promised=promised, feeling=feeling,
                              ticket=(ticket.id, ticket.number or "") if ticket else None)
        promised_text = describe_deadline(promised, now, self.company)
        dispatcher.utter_message(response=REASON_RESPONSE[reason], promised_time=promised_text)
        return [SlotSet("promised_time", promised_text), *ask_for_a_person(dispatcher, tracker, request)]


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
            # The gateway ended the hand-off (bot/lifecycle.py); the bot only asks for the rating.
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
