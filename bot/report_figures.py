"""Building blocks every report figure shares: the sample-size warning, the 8 ISO weeks a
trend covers, time distributions (median, p90, buckets) and what counts as a complaint.

A figure always carries the number of cases it rests on (`sample`) and `small_sample` when
that number is under SMALL_SAMPLE: a lead should not act on an average of three ratings
without being told so."""
from __future__ import annotations

import datetime as dt
import math
import statistics
from typing import Any, Iterable, Sequence

from sqlalchemy import ColumnElement, and_, case, exists, literal, not_, select

from caredesk.db.models import Handoff, Ticket
from caredesk.triage import COMPLAINT_SEVERITIES

SMALL_SAMPLE = 20  # fewer cases than this: the page warns before anyone acts on the figure
WEEKS = 8
# Upper edges of the time buckets, in seconds; the last bucket is open.
BUCKETS: tuple[tuple[str, float], ...] = (
    ("under_15m", 15 * 60), ("15m_1h", 3600), ("1h_4h", 4 * 3600), ("4h_24h", 24 * 3600),
    ("1d_3d", 72 * 3600), ("over_3d", math.inf),
)


def sampled(sample: int, **figures: Any) -> dict[str, Any]:
    """A figure with the size of its sample and the small-sample flag."""
    return {**figures, "sample": sample, "small_sample": sample < SMALL_SAMPLE}


def week_starts(now: dt.datetime, weeks: int = WEEKS) -> list[dt.datetime]:
    """Mondays 00:00 UTC of the last `weeks` ISO weeks, oldest first; the last is this week's."""
    today = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    this_monday = today - dt.timedelta(days=today.weekday())
    return [this_monday - dt.timedelta(weeks=weeks - 1 - index) for index in range(weeks)]


def week_label(start: dt.datetime) -> str:
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def week_index(column: Any, starts: Sequence[dt.datetime]) -> ColumnElement[int]:
    """Which of `starts` a timestamp falls in (0 = oldest), as SQL that SQLite and PostgreSQL
    both run; NULL before the first. Meant for a subquery, so the outer query groups by a
    plain column (PostgreSQL does not match two copies of an expression with parameters)."""
    whens = [(column >= start, literal(index)) for index, start in reversed(list(enumerate(starts)))]
    return case(*whens, else_=None)


def legacy_follow_up() -> ColumnElement[bool]:
    """Tickets made before follow-ups had their own severity: the no-agent follow-up of a
    hand-off was stored as a formal complaint about "other", wanting "other". A complaint
    form ticket of that shape that also went to a person is indistinguishable and is left out."""
    linked = exists(select(literal(1)).where(Handoff.ticket_id == Ticket.id))
    return and_(Ticket.severity == "formal_complaint", Ticket.category == "other",
                Ticket.desired_outcome == "other", linked)


def is_complaint() -> ColumnElement[bool]:
    """A ticket that records a complaint: its severity is a complaint's and it is not a
    follow-up made because a customer asked for a person (which is no complaint)."""
    return and_(Ticket.severity.in_(COMPLAINT_SEVERITIES), not_(legacy_follow_up()))


def percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty sequence."""
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def distribution(seconds: Iterable[float], *, waiting: int = 0) -> dict[str, Any]:
    """Median, 90th percentile and bucket counts of durations in seconds. `waiting`: cases
    still without an end, outside the sample but worth showing beside it."""
    ordered = sorted(max(0.0, value) for value in seconds)
    buckets = {name: 0 for name, _ in BUCKETS}
    for value in ordered:
        buckets[next(name for name, edge in BUCKETS if value < edge)] += 1
    return sampled(len(ordered), waiting=waiting,
                   median_seconds=round(statistics.median(ordered)) if ordered else None,
                   p90_seconds=round(percentile(ordered, 0.9)) if ordered else None,
                   buckets=buckets)


def seconds_between(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
