"""The demo company's facts and business calendar, loaded from company.yml."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRIORITIES = ("urgent", "high", "normal", "low")


@dataclass(frozen=True)
class Company:
    facts: dict[str, Any]
    timezone: ZoneInfo
    opening: dict[int, tuple[dt.time, dt.time]]  # weekday number -> (open, close)
    holidays: frozenset[dt.date]
    first_response_hours: dict[str, float]

    def slot_values(self) -> dict[str, str]:
        """Facts as the text slots the domain's replies fill in (lists become bullet lines)."""
        values: dict[str, str] = {}
        for key, value in self.facts.items():
            if isinstance(value, list):
                values[key] = "\n".join(f"- {item}" for item in value)
            else:
                values[key] = str(value)
        return values


def _parse_time(text: str) -> dt.time:
    hours, minutes = str(text).split(":")
    return dt.time(int(hours), int(minutes))


def parse_company(raw: dict[str, Any]) -> Company:
    calendar_keys = {"timezone", "business_hours", "holidays", "first_response_hours"}
    opening: dict[int, tuple[dt.time, dt.time]] = {}
    for day, span in (raw.get("business_hours") or {}).items():
        if span:
            start, end = _parse_time(span[0]), _parse_time(span[1])
            if end <= start:
                raise ValueError(f"business_hours.{day}: closing time must be after opening")
            opening[WEEKDAYS.index(day)] = (start, end)
    if not opening:
        raise ValueError("business_hours: at least one open day is needed")
    hours = {str(k): float(v) for k, v in (raw.get("first_response_hours") or {}).items()}
    missing = [p for p in PRIORITIES if p not in hours]
    if missing:
        raise ValueError(f"first_response_hours is missing {', '.join(missing)}")
    return Company(
        facts={k: v for k, v in raw.items() if k not in calendar_keys},
        timezone=ZoneInfo(raw.get("timezone", "UTC")),
        opening=opening,
        holidays=frozenset(
            d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))
            for d in raw.get("holidays") or []
        ),
        first_response_hours=hours,
    )


def load_company(path: Path) -> Company:
    with path.open(encoding="utf-8") as handle:
        return parse_company(yaml.safe_load(handle))


@lru_cache(maxsize=4)
def cached_company(path: Path) -> Company:
    """The company file is read once per process; restart the action server after editing."""
    return load_company(path)
