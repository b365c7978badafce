"""Dates and money the way customers read them, in the company's timezone."""
from __future__ import annotations

import datetime as dt

from caredesk.company import Company


def day(moment: dt.datetime | None, company: Company) -> str:
    if moment is None:
        return "an unknown date"
    local = moment.astimezone(company.timezone)
    return f"{local.strftime('%A')} {local.day} {local.strftime('%B')}"


def money(cents: int | None, currency: str = "EUR") -> str:
    return f"{currency} {(cents or 0) / 100:.2f}"
