"""Severity, priority and the promised first-response time of a ticket or hand-off.

Severity follows SERVICE.md: a threat to leave (100) outranks a formal complaint (60), which
outranks a grumble (40). Strongly negative emotion and a VIP customer raise the score; the
priority decides the queue position and, through company.yml, the promised response time.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from caredesk.company import Company

SEVERITY_SCORES = {"threat_to_leave": 100, "formal_complaint": 60, "grumble": 40}
# The severities a complaint can have (what reports count as complaints). A ticket made only so
# that a customer who asked for a person is not forgotten (bot/no_agent.py) is no complaint.
COMPLAINT_SEVERITIES = tuple(SEVERITY_SCORES)
FOLLOW_UP_SEVERITY = "follow_up"
TIER_BONUS = {"vip": 25, "regular": 0, "new": 0}
STRONGLY_NEGATIVE = -0.6
NEGATIVE = -0.3
PRIORITIES = ("urgent", "high", "normal", "low")

FORMAL_WORDS = re.compile(
    r"\b(formal(ly)?|lodge|official|lawyer|legal|court|consumer (protection|rights)|"
    r"ombudsman|chargeback|trading standards)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Priority:
    severity: str
    score: int
    label: str


def severity_of(*, churn_threat: bool, desired_outcome: str | None, text: str = "") -> str:
    """A complaint that asks for a remedy is formal; one that only wants to be heard is a grumble."""
    if churn_threat:
        return "threat_to_leave"
    if FORMAL_WORDS.search(text or "") or desired_outcome in ("refund", "replacement", "repair"):
        return "formal_complaint"
    return "grumble"


def prioritise(*, severity: str, sentiment: float | None, tier: str | None) -> Priority:
    score = SEVERITY_SCORES[severity]
    if sentiment is not None and sentiment <= STRONGLY_NEGATIVE:
        score += 20
    elif sentiment is not None and sentiment <= NEGATIVE:
        score += 10
    score += TIER_BONUS.get(tier or "new", 0)
    if score >= 100:
        label = "urgent"
    elif score >= 70:
        label = "high"
    elif score >= 50:
        label = "normal"
    else:
        label = "low"
    return Priority(severity=severity, score=score, label=label)


def add_business_hours(start: dt.datetime, hours: float, company: Company) -> dt.datetime:
    """The moment `hours` of opening time after `start` (an aware datetime), in UTC."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    remaining = dt.timedelta(hours=hours)
    local = start.astimezone(company.timezone)
    for _ in range(366 * 2):
        day = local.date()
        span = company.opening.get(day.weekday())
        if span and day not in company.holidays:
            opens = dt.datetime.combine(day, span[0], company.timezone)
            closes = dt.datetime.combine(day, span[1], company.timezone)
            begin = max(local, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(dt.timezone.utc)
                remaining -= available
        next_day = day + dt.timedelta(days=1)
        local = dt.datetime.combine(next_day, dt.time(0, 0), company.timezone)
    raise ValueError("the business calendar has no opening hours in the next two years")


def promised_response_at(now: dt.datetime, priority: str, company: Company) -> dt.datetime:
    return add_business_hours(now, company.first_response_hours[priority], company)


def describe_deadline(deadline: dt.datetime, now: dt.datetime, company: Company) -> str:
    """Say a deadline the way a person would: "today 15:00", "tomorrow 11:00", "Tuesday 11:00"."""
    local = deadline.astimezone(company.timezone)
    today = now.astimezone(company.timezone).date()
    clock = local.strftime("%H:%M")
    days = (local.date() - today).days
    if days == 0:
        return f"today {clock}"
    if days == 1:
        return f"tomorrow ({local.strftime('%A')}) {clock}"
    if days < 7:
        return f"{local.strftime('%A')} {clock}"
    return f"{local.strftime('%A')} {local.day} {local.strftime('%B')}, {clock}"
