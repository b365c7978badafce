"""Start of a conversation: load the company facts into the slots the replies read."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Resources


class ActionSessionStart(Resources, Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        facts = self.company.slot_values()
        known_slots = set(domain.get("slots", {}))
        if domain.get("session_config", {}).get("carry_over_slots_to_new_session", True):
            events.extend(
                SlotSet(name, value)
                for name, value in tracker.current_slot_values().items()
                if value is not None and name not in facts
            )
        events.extend(SlotSet(name, value) for name, value in facts.items() if name in known_slots)
        events.append(ActionExecuted("action_listen"))
        return events
