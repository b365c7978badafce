"""The words of the emails to customers, from emails.yml (trainers and admins edit them, as
they edit domain.yml), filled in once: what a customer or an agent wrote is put in as it is
and never read again as a placeholder."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from caredesk.mail import Outgoing

PLACEHOLDER = re.compile(r"{(\w+)}")
KINDS = ("reply", "resolved")


def _fill(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True)
class EmailTexts:
    templates: dict[str, dict[str, str]]
    greeting_named: str
    greeting: str
    facts: dict[str, str]

    @classmethod
    def load(cls, path: Path, facts: dict[str, str]) -> "EmailTexts":
        raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        templates: dict[str, dict[str, str]] = {}
        for kind in KINDS:
            entry = raw.get(kind)
            if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("subject", "body")):
                raise ValueError(f"{path.name}: {kind} needs a subject and a body")
            templates[kind] = {"subject": entry["subject"], "body": entry["body"]}
        return cls(templates, str(raw.get("greeting_named") or ""), str(raw.get("greeting") or ""), facts)

    def compose(self, kind: str, *, to: str, customer_name: str | None, **values: str) -> Outgoing:
        """The email `kind` for one customer; `values` fill its placeholders."""
        greeting = _fill(self.greeting_named, {"customer_name": customer_name}) if customer_name else self.greeting
        known = {**self.facts, **values, "greeting": greeting}
        template = self.templates[kind]
        return Outgoing(to=to, to_name=customer_name or "", subject=_fill(template["subject"], known),
                        body=_fill(template["body"], known))
