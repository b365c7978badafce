import datetime as dt

import pytest

from caredesk.company import Company, parse_company
from caredesk.triage import (
    add_business_hours,
    describe_deadline,
    prioritise,
    promised_response_at,
    severity_of,
)

UTC = dt.timezone.utc


def berlin(company: Company, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=company.timezone)


def test_hours_inside_one_day(company: Company) -> None:
    start = berlin(company, 2026, 11, 24, 10, 0)  # Tuesday
    assert add_business_hours(start, 4, company) == berlin(company, 2026, 11, 24, 14, 0).astimezone(UTC)


def test_hours_carry_over_into_saturday(company: Company) -> None:
    start = berlin(company, 2026, 11, 27, 17, 30)  # Friday, closes 18:00
    assert add_business_hours(start, 1, company) == berlin(company, 2026, 11, 28, 10, 30).astimezone(UTC)


def test_sunday_is_closed_and_saturday_is_short(company: Company) -> None:
    start = berlin(company, 2026, 11, 28, 13, 30)  # Saturday, closes 14:00
    # 0.5 h on Saturday, nothing on Sunday, 3.5 h on Monday from 9:00
    assert add_business_hours(start, 4, company) == berlin(company, 2026, 11, 30, 12, 30).astimezone(UTC)


def test_starting_at_night_counts_from_opening(company: Company) -> None:
    start = berlin(company, 2026, 11, 25, 2, 0)  # Wednesday night
    assert add_business_hours(start, 1, company) == berlin(company, 2026, 11, 25, 10, 0).astimezone(UTC)


def test_holidays_are_skipped(company: Company) -> None:
    start = berlin(company, 2026, 12, 23, 17, 0)  # Wednesday before Christmas
    # 1 h on the 23rd; 24th-26th are holidays, 27th a Sunday; Monday 28th from 9:00
    assert add_business_hours(start, 2, company) == berlin(company, 2026, 12, 28, 10, 0).astimezone(UTC)


def test_naive_start_is_refused(company: Company) -> None:
    with pytest.raises(ValueError):
        add_business_hours(dt.datetime(2026, 11, 24, 10), 1, company)


def test_calendar_without_open_days_is_refused() -> None:
    with pytest.raises(ValueError, match="open day"):
        parse_company({"business_hours": {}, "first_response_hours": {}})


def test_missing_sla_priority_is_refused() -> None:
    with pytest.raises(ValueError, match="urgent"):
        parse_company({"business_hours": {"mon": ["09:00", "17:00"]}, "first_response_hours": {"low": 1}})


def test_severity_order_follows_the_standard() -> None:
    assert severity_of(churn_threat=True, desired_outcome="apology") == "threat_to_leave"
    assert severity_of(churn_threat=False, desired_outcome="refund") == "formal_complaint"
    assert severity_of(churn_threat=False, desired_outcome="other", text="I wish to lodge a formal complaint") == "formal_complaint"
    assert severity_of(churn_threat=False, desired_outcome="apology", text="a bit annoyed") == "grumble"
    scores = [prioritise(severity=s, sentiment=0.0, tier="regular").score
              for s in ("threat_to_leave", "formal_complaint", "grumble")]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 3


def test_negative_emotion_and_vip_raise_priority() -> None:
    calm = prioritise(severity="formal_complaint", sentiment=0.1, tier="regular")
    upset = prioritise(severity="formal_complaint", sentiment=-0.8, tier="regular")
    vip = prioritise(severity="formal_complaint", sentiment=0.1, tier="vip")
    assert calm.label == "normal"
    assert upset.score > calm.score and upset.label == "high"
    assert vip.score > calm.score and vip.label == "high"
    assert prioritise(severity="threat_to_leave", sentiment=0.0, tier="new").label == "urgent"
    assert prioritise(severity="grumble", sentiment=0.0, tier="new").label == "low"


def test_promise_uses_the_sla_table(company: Company) -> None:
    now = berlin(company, 2026, 11, 24, 10, 0)
    urgent = promised_response_at(now, "urgent", company)
    low = promised_response_at(now, "low", company)
    assert urgent == berlin(company, 2026, 11, 24, 11, 0).astimezone(UTC)
    assert low > urgent


def test_deadlines_are_said_like_a_person_would(company: Company) -> None:
    now = berlin(company, 2026, 11, 24, 10, 0)  # Tuesday
    assert describe_deadline(berlin(company, 2026, 11, 24, 15, 0), now, company) == "today 15:00"
    assert describe_deadline(berlin(company, 2026, 11, 25, 11, 0), now, company) == "tomorrow (Wednesday) 11:00"
    assert describe_deadline(berlin(company, 2026, 11, 27, 9, 30), now, company) == "Friday 09:30"
    assert describe_deadline(berlin(company, 2026, 12, 8, 9, 0), now, company) == "Tuesday 8 December, 09:00"
