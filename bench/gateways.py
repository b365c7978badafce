"""Several gateways (issue 18), on one stack: two Rasa processes, PostgreSQL, Redis, two
gateways sharing their fan-out, limits and sign-in pause through Redis.

1. Capacity with every customer on one gateway, then spread over both (same ladder and
   target as the speed part: typing-paced customers, p95 <= 300 ms, no errors).
2. A gateway killed (SIGKILL) while 50 customers chat, half of them on it. Each customer is
   a widget: when its socket drops it reconnects to the other gateway with its resume secret
   and sends again what it had not seen answered (same client_id, which the gateway stores
   once). Counted afterwards in the database: customer messages sent but not stored (lost),
   stored but never answered, and per customer of the killed gateway the time from the kill
   to the bot's next answer.

`BENCH_ONLY=gateways make bench`, or `.venv/bin/python -m bench.gateways`."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bench.load import SETTLE_SECONDS, _run_async, capacity, layout, warm_up
from bench.metrics import percentile
from bench.script import ROUTINE
from bench.settings import BenchSettings
from bench.stack import ORIGIN, Stack, answers_tcp, scratch_postgres, start_stack
from caredesk.db.models import Message
from caredesk.db.session import make_engine
from caredesk.settings import async_database_url

REDIS_DB = 5  # the gateways' shared Redis database during this part
KILL_CUSTOMERS = 50
KILL_AFTER_SECONDS = 15.0  # after the last customer joined
KILL_RUN_SECONDS = 45.0  # in all, from the first customer joining
BACK_WITHIN_SECONDS = 10.0
THINK_SECONDS = 3.0
SETTLE_AFTER_RUN = 20.0  # time for the re-drive to answer what a dead gateway left unanswered


class Widget:
    """One customer who behaves like the web widget across a gateway's death."""

    def __init__(self, session: aiohttp.ClientSession, urls: list[str], home: int, timeout: float) -> None:
        self.session, self.urls, self.home, self.timeout = session, urls, home, timeout
        self.gateway = home
        self.conversation_id = ""
        self.resume = ""
        self.sent: list[str] = []  # client ids
        self.errors: list[str] = []
        self.answers: list[float] = []  # when each bot answer arrived (perf_counter)
        self.reconnects = 0

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        """This widget's chat, on its gateway or, when that one is gone, on the next."""
        last: Exception | None = None
        for attempt in range(2 * len(self.urls) * 10):
            url = f"{self.urls[self.gateway]}/ws/chat" + (f"?resume={self.resume}" if self.resume else "")
            try:
                ws = await self.session.ws_connect(url, headers={"Origin": ORIGIN})
                hello = await ws.receive_json(timeout=self.timeout)
                if hello.get("type") != "hello":
                    raise aiohttp.ClientError(f"expected hello, got {hello}")
                self.conversation_id, self.resume = str(hello["conversation_id"]), str(hello["resume"])
                return ws
            except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError, TimeoutError) as error:
                last = error
                self.gateway = (self.gateway + 1) % len(self.urls)  # as a proxy sends it elsewhere
                await asyncio.sleep(0.2 * min(attempt, 5))  # the widget's back-off, shortened
        raise RuntimeError(f"no gateway took the chat: {last}")

    async def _answered(self, ws: aiohttp.ClientWebSocketResponse, client_id: str) -> bool:
        """Wait for the bot's answer to `client_id`; False when the socket dropped first."""
        echoed = False
        deadline = time.perf_counter() + self.timeout
        while time.perf_counter() < deadline:
            try:
                message = await ws.receive(timeout=max(deadline - time.perf_counter(), 0.01))
            except (asyncio.TimeoutError, TimeoutError):
                break
            if message.type != aiohttp.WSMsgType.TEXT:
                return False
            frame = json.loads(message.data)
            line = frame.get("message") or {}
            if frame.get("type") == "message" and line.get("client_id") == client_id:
                echoed = True
            elif frame.get("type") == "message" and line.get("from") in ("bot", "system") and echoed:
                self.answers.append(time.perf_counter())
                if line.get("from") == "system":
                    self.errors.append("system")
                return True
        self.errors.append("timeout" if echoed else "no_echo")
        return True  # carry on with the next message

    async def run(self, stop_at: float, rng: random.Random) -> None:
        ws = await self._connect()
        pending: dict[str, Any] | None = None
        try:
            while time.perf_counter() < stop_at:
                if pending is None:
                    client_id = uuid.uuid4().hex
                    pending = {"type": "message", "text": rng.choice(ROUTINE), "client_id": client_id}
                    self.sent.append(client_id)
                try:
                    await ws.send_str(json.dumps(pending))
                    done = await self._answered(ws, pending["client_id"])
                except (aiohttp.ClientError, ConnectionError, RuntimeError):
                    done = False
                if not done:  # the gateway went away: reconnect elsewhere and send it again
                    with contextlib.suppress(Exception):
                        await ws.close()
                    self.reconnects += 1
                    self.gateway = (self.gateway + 1) % len(self.urls)
                    ws = await self._connect()
                    continue
                pending = None
                await asyncio.sleep(rng.uniform(0.5, 1.5) * THINK_SECONDS)
        finally:
            await ws.close()


async def _lines(database_url: str, conversations: list[str]) -> dict[str, Any]:
    """Customer lines stored in these conversations: their client ids and what became of them."""
    engine = make_engine(async_database_url(database_url))
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(
                select(Message.client_id, Message.outcome)
                .where(Message.sender == "customer", Message.conversation_id.in_(conversations)))).all()
    finally:
        await engine.dispose()
    return {
        "client_ids": {row.client_id for row in rows},
        "without_outcome": sum(1 for row in rows if row.outcome is None),
        "to_a_person": sum(1 for row in rows if row.outcome in ("fault", "person")),
    }


async def gateway_killed(stack: Stack, settings: BenchSettings) -> dict[str, Any]:
    urls = stack.gateway_urls
    victim = next(s for s in stack.services if s.name == "gateway")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        widgets = [Widget(session, urls, i % len(urls), settings.turn_timeout) for i in range(KILL_CUSTOMERS)]
        began = time.perf_counter()
        stop_at = began + KILL_RUN_SECONDS

        async def customer(index: int) -> None:
            await asyncio.sleep(5.0 * index / KILL_CUSTOMERS)
            await widgets[index].run(stop_at, random.Random(7000 + index))

        tasks = [asyncio.create_task(customer(i)) for i in range(KILL_CUSTOMERS)]
        await asyncio.sleep(5.0 + KILL_AFTER_SECONDS)
        killed_at = time.perf_counter()
        os.kill(victim.process.pid, signal.SIGKILL)
        print(f"killed the gateway at {urls[0]} (pid {victim.process.pid}) under {KILL_CUSTOMERS} customers",
              file=sys.stderr)
        await asyncio.gather(*tasks)
    await asyncio.sleep(SETTLE_AFTER_RUN)
    stored = await _lines(stack.database_url, [w.conversation_id for w in widgets])
    sent = {cid for w in widgets for cid in w.sent}
    moved = [w for w in widgets if w.home == 0]
    back = [min((t for t in w.answers if t > killed_at), default=None) for w in moved]
    gaps = [t - killed_at for t in back if t is not None]
    return {
        "customers": KILL_CUSTOMERS,
        "on_killed_gateway": len(moved),
        "messages_sent": len(sent),
        "lost": len(sent - stored["client_ids"]),
        "stored_without_answer": stored["without_outcome"],
        "went_to_a_person": stored["to_a_person"],
        "reconnects": sum(w.reconnects for w in widgets),
        "answered_again": len(gaps),
        "back_p50_s": percentile(gaps, 50) if gaps else None,
        "back_max_s": max(gaps) if gaps else None,
        "back_within_target": len(gaps) == len(moved) and max(gaps, default=0) <= BACK_WITHIN_SECONDS,
        "errors": {kind: sum(w.errors.count(kind) for w in widgets) for kind in ("timeout", "no_echo", "system")},
    }


async def _measure(stack: Stack, settings: BenchSettings) -> dict[str, Any]:
    """Capacity one way, the other, and the first again (the machine drifts over a run: the
    better of a layout's two ladders counts), then the kill."""
    probe = await warm_up(stack, settings)
    order = ("two", "one", "two") if os.environ.get("BENCH_GATEWAYS_FIRST") == "two" else ("one", "two", "one")
    ladders: dict[str, list[dict[str, Any]]] = {"one": [], "two": []}
    for layout_name in order:
        urls = stack.gateway_urls[:1] if layout_name == "one" else stack.gateway_urls
        ladders[layout_name].append(await capacity(stack, settings, probe, urls))
        await asyncio.sleep(SETTLE_SECONDS)
    one = max(ladders["one"], key=lambda c: c["capacity"])
    two = max(ladders["two"], key=lambda c: c["capacity"])
    one["all_runs"] = [c["capacity"] for c in ladders["one"]]
    two["all_runs"] = [c["capacity"] for c in ladders["two"]]
    return {"capacity_one_gateway": one, "capacity_two_gateways": two,
            "gateway_killed": await gateway_killed(stack, settings)}


def run_gateways(settings: BenchSettings) -> dict[str, Any]:
    if not answers_tcp("127.0.0.1", 6379):
        raise RuntimeError("two gateways share their state through Redis; none answers on 127.0.0.1:6379")
    with tempfile.TemporaryDirectory(prefix="caredesk-gateways-") as workdir, contextlib.ExitStack() as cleanup:
        database_url = (cleanup.enter_context(scratch_postgres(settings.postgres_url, "gateways"))
                        if settings.postgres_url else None)
        base = layout(settings, database_url)
        redis = (("GATEWAY_REDIS_URL", f"redis://127.0.0.1:6379/{REDIS_DB}"),)
        options = base.__class__(**{**base.__dict__, "gateways": 2, "gateway_env": base.gateway_env + redis})
        print(f"Starting the action server, {options.describe()} and two gateways ...", file=sys.stderr)
        stack = start_stack(Path(workdir), options, settings.model)
        try:
            figures = _run_async(_measure(stack, settings))
        except BaseException:
            print(stack.tails(), file=sys.stderr)
            raise
        finally:
            stack.stop()
        figures["gateway_log_errors"] = _logged_errors(stack)
    figures["layout"] = options.describe() + ", two gateways sharing Redis"
    return figures


def _logged_errors(stack: Stack) -> list[str]:
    """The gateways' logged errors, first of each kind (a refused or failed message shows
    there; the load client only sees that it was not echoed)."""
    seen: dict[str, str] = {}
    for service in stack.services:
        if service.name.startswith("gateway") and service.log.exists():
            for line in service.log.read_text(errors="replace").splitlines():
                if " ERROR " in line or " CRITICAL " in line:
                    seen.setdefault(line.split(" ERROR ")[-1][:80], f"{service.name}: {line[:300]}")
    return list(seen.values())[:10]


def targets(figures: dict[str, Any]) -> list[tuple[str, float | None, str, str, bool]]:
    """(figure, value, shown, goal, met) for the report's targets table."""
    if not figures or "error" in figures:
        return [("Capacity, two gateways vs one", None, "", "no lower", False),
                ("A gateway killed under 50 customers", None, "", "0 lost, back ≤ 10 s", False)]
    one, two = figures["capacity_one_gateway"]["capacity"], figures["capacity_two_gateways"]["capacity"]
    kill = figures["gateway_killed"]
    back = kill["back_max_s"]
    return [
        ("Capacity, two gateways vs one", two, f"{two} vs {one} customers", "no lower", two >= one),
        ("A gateway killed under 50 customers", back,
         f"{kill['lost']} lost, {kill['stored_without_answer']} unanswered, its customers answered again "
         f"within {back:.1f} s" if back is not None else f"{kill['lost']} lost, not answered again",
         "0 lost, back ≤ 10 s", kill["lost"] == 0 and kill["stored_without_answer"] == 0 and kill["back_within_target"]),
    ]


def section(figures: dict[str, Any]) -> list[str]:
    """The report's section on several gateways."""
    if not figures or "error" in figures:
        return ["## Two gateways", "", f"Not measured: {(figures or {}).get('error', 'skipped')}.", ""]
    kill = figures["gateway_killed"]
    lines = ["## Two gateways", "", f"Layout: {figures['layout']}.", "",
             "| customers on | capacity | p95 at capacity (ms) |", "|---|---|---|"]
    for name, key in (("one gateway", "capacity_one_gateway"), ("both gateways", "capacity_two_gateways")):
        cap = figures[key]
        at = next((s for s in cap["steps"] if s["customers"] == cap["capacity"]), None)
        lines.append(f"| {name} | {cap['capacity']} (tried up to {cap['max_tried']}) | "
                     f"{at['p95_ms']:.0f} |" if at else f"| {name} | {cap['capacity']} | – |")
    lines += ["", f"Gateway killed (SIGKILL) under {kill['customers']} customers, {kill['on_killed_gateway']} of "
              f"them on it: {kill['messages_sent']} messages sent, {kill['lost']} lost, "
              f"{kill['stored_without_answer']} stored without an answer, {kill['went_to_a_person']} to a person; "
              f"{kill['reconnects']} reconnects; its customers answered again after "
              f"{kill['back_p50_s'] or 0:.1f} s (median), {kill['back_max_s'] or 0:.1f} s (slowest).", ""]
    return lines


def main() -> None:
    print(json.dumps(run_gateways(BenchSettings.from_env()), indent=2, default=str))


if __name__ == "__main__":
    main()
