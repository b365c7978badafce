"""The Reports page's tables as CSV downloads (leads and admins: the `reports` permission).

A CSV is opened in a spreadsheet, which runs a cell that starts with =, +, -, @, a tab or a
carriage return as a formula. Customers write the comments, and categories and names reach
the database from outside too, so every text cell that starts with one of those characters
is prefixed with a single quote; numbers stay numbers."""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from typing import Any, Awaitable, Callable, Iterable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import utcnow
from bot import reports
from bot.app_keys import SESSIONS
from bot.console.guard import json_error, requires
from bot.report_figures import BUCKETS
from bot.report_times import distributions, workload
from bot.report_weeks import latest_comments, weekly

logger = logging.getLogger(__name__)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Rows = list[list[Any]]
Table = Callable[[AsyncSession, dt.datetime, dt.datetime], Awaitable[Rows]]


def safe_cell(value: Any) -> Any:
    """A value a spreadsheet shows as it is: text that could start a formula gets a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(rows: Iterable[list[Any]]) -> str:
    """CSV text with a byte-order mark, so spreadsheets read it as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return "\ufeff" + buffer.getvalue()


async def _satisfaction(session: AsyncSession, since: dt.datetime, now: dt.datetime) -> Rows:
    report = await reports.satisfaction(session, since)
    rows: Rows = [["subject", "username", "name", "ratings", "average", "csat_percent", "small_sample"]]
    parts = [("bot", None, None, report["bot"])]
    parts += [("agent", a["username"], a["name"], a) for a in report["agents"]]
    parts += [("whole", None, None, report["whole"])]
    for subject, username, name, figures in parts:
        if figures is not None:
            rows.append([subject, username, name, figures["ratings"], figures["average"],
                         figures["csat_percent"], figures["small_sample"]])
    return rows


async def _handoffs(session: AsyncSession, since: dt.datetime, now: dt.datetime) -> Rows:
    report = await reports.escalation(session, since)
    rows: Rows = [["reason", "handoffs"]]
    rows += [[reason, count] for reason, count in report["reasons"].items()]
    rows.append(["conversations_with_a_customer_line", report["conversations"]])
    rows.append(["conversations_handed_to_a_person", report["handed_to_a_person"]])
    return rows


async def _promises(session: AsyncSession, since: dt.datetime, now: dt.datetime) -> Rows:
    report = await reports.promises(session, since, now)
    rows: Rows = [["promise", "kept", "late", "missed", "open", "kept_percent", "sample", "small_sample"]]
    for promise in ("handoffs", "tickets"):
        c = report[promise]
        rows.append([promise, c["kept"], c["late"], c["missed"], c["open"], c["kept_percent"], c["sample"],
                     c["small_sample"]])
    return rows


async def _complaints(session: AsyncSession, since: dt.datetime, now: dt.datetime) -> Rows:
    report = await reports.complaints(session, since)
    return [["category", "tickets", "share_percent"]] + [
        [c["category"], c["tickets"], c["share_percent"]] for c in report["categories"]]


async def _weekly(session: AsyncSession, since: dt.datetime, now: dt.datetime) -> Rows:
    report = await weekly(session, now)
    reasons, subjects = list(report["handoff_reasons"]), list(report["ratings"])
    header = ["week", "starts", "conversations", "handoffs", "complaints"]
    header += [f"handoffs_{reason}" for reason in reasons]
    header += [f"{subject}_{part}" for subject in subjects for part in ("average", "ratings", "small_sample")]
    rows: Rows = [header]
    for index, week in enumerate(report["weeks"]):
        row = [week["week"], week["starts"], report["conversations"][index], report["handoffs"][index],
               report["complaints"][index]]
        row += [report["handoff_reasons"][reason][index] for reason in reasons]
        for subject in subjects:
            figure = report["ratings"][subject][index]
            row += [figure["average"], figure["sample"], figure["small_sample"]]
        rows.append(row)
    return rows


async def _times(session: AsyncSession, since: dt.datetime, now: dt.datetime) -> Rows:
    report = await distributions(session, since)
    rows: Rows = [["measure", "sample", "small_sample", "waiting", "median_seconds", "p90_seconds",
                   *(f"bucket_{name}" for name, _ in BUCKETS)]]
    for measure, figure in report.items():
        rows.append([measure, figure["sample"], figure["small_sample"], figure["waiting"], figure["median_seconds"],
                     figure["p90_seconds"], *(figure["buckets"][name] for name, _ in BUCKETS)])
    return rows


async def _workload(session: AsyncSession, since: dt.datetime, now: dt.datetime) -> Rows:
    rows: Rows = [["username", "name", "claimed", "replies", "resolved", "median_first_reply_seconds",
                   "first_reply_sample", "small_sample"]]
    for agent in await workload(session, since):
        first = agent["first_reply"]
        rows.append([agent["username"], agent["name"], agent["claimed"], agent["replies"], agent["resolved"],
                     first["median_seconds"], first["sample"], first["small_sample"]])
    return rows


async def _comments(session: AsyncSession, since: dt.datetime, now: dt.datetime) -> Rows:
    rows: Rows = [["at", "rating", "subject", "agent_username", "agent_name", "channel", "comment"]]
    for c in await latest_comments(session, since):
        rows.append([c["at"], c["rating"], c["subject"], c["agent_username"], c["agent_name"], c["channel"],
                     c["comment"]])
    return rows


TABLES: dict[str, Table] = {
    "satisfaction": _satisfaction, "handoffs": _handoffs, "promises": _promises, "complaints": _complaints,
    "weekly": _weekly, "times": _times, "workload": _workload, "comments": _comments,
}


@requires("reports")
async def get_csv(request: web.Request) -> web.Response:
    """GET /api/reports/{table}.csv?days=30 (the weekly table always has the last 8 weeks)."""
    table = TABLES.get(request.match_info["table"])
    if table is None:
        raise json_error(web.HTTPNotFound, "no such report table")
    days = reports.period_days(request)
    now = utcnow()
    async with request.app[SESSIONS]() as session:
        rows = await table(session, now - dt.timedelta(days=days), now)
    name = f"caredesk-{request.match_info['table']}-{days}d-{now.date().isoformat()}.csv"
    return web.Response(text=to_csv(rows), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/reports/{table:[a-z_]{1,20}}.csv", get_csv)
