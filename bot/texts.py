"""The gateway's own lines to customers (hand-over, no agent online, bot unavailable). They
live in domain.yml beside every other reply, under names starting utter_gateway_, so
trainers edit them in one place."""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import yaml

PLACEHOLDER = re.compile(r"{(\w+)}")


class Texts:
    def __init__(self, responses: dict[str, list[dict[str, Any]]], facts: dict[str, str]) -> None:
        self._responses = responses
        self._facts = facts

    @classmethod
    def load(cls, domain_file: Path, facts: dict[str, str]) -> "Texts":
        domain = yaml.safe_load(domain_file.read_text(encoding="utf-8"))
        responses = {k: v for k, v in domain.get("responses", {}).items() if k.startswith("utter_gateway_")}
        return cls(responses, facts)

    def say(self, name: str, **values: str) -> str:
        variants = self._responses.get(name)
        if not variants:
            raise KeyError(f"domain.yml has no response {name}")
        text = str(random.choice(variants)["text"])
        known = {**self._facts, **values}
        return PLACEHOLDER.sub(lambda m: str(known.get(m.group(1), m.group(0))), text)


# The widget's own words that change with the conversation's state (domain.yml,
# utter_gateway_widget_*): sent in the hello, so trainers edit them where every reply lives.
# {agent_name} and {promised_time} are left for the widget to fill in.
WIDGET_TEXTS = {
    "state_assistant": "utter_gateway_widget_state_assistant",
    "state_waiting": "utter_gateway_widget_state_waiting",
    "state_waiting_until": "utter_gateway_widget_state_waiting_until",
    "state_agent": "utter_gateway_widget_state_agent",
    "back_to_assistant": "utter_gateway_widget_back_to_assistant",
    "leave_email": "utter_gateway_widget_leave_email",
    "email_label": "utter_gateway_widget_email_label",
    "email_send": "utter_gateway_widget_email_send",
}


def widget_texts(texts: Texts) -> dict[str, str]:
    return {name: texts.say(response) for name, response in WIDGET_TEXTS.items()}
