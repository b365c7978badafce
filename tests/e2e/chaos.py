"""Scripted web-chat customers for the fault-injection tests (tests/e2e/test_faults.py): each
holds one scripted conversation after another (bench/script.py) and behaves like the widget
when the gateway goes away: it reconnects with its resume secret to the same conversation and
resends what it did not see echoed (docs/gateway-protocol.md)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.clients import PROBE, TIMEOUTS, probe_reply
from bench.script import Step, conversation
from bench.stack import ORIGIN
from tests.e2e.launched import ANSWERS, Launched

TICKET = re.compile(r"\bCD-\d+\b")


@dataclass
class Tally:
    """What the customers of one drill saw."""

    echoed: dict[str, str] = field(default_factory=dict)  # client_id -> conversation id
    promised: set[str] = field(default_factory=set)  # ticket numbers customers were told
    conversations: set[str] = field(default_factory=set)
    answers: list[float] = field(default_factory=list)  # when a bot/agent/system line arrived
    reconnects: int = 0
    resent: int = 0
    per_customer_answers: dict[int, list[float]] = field(default_factory=dict)
    on_echo: Callable[[], None] | None = None  # called once, at the next live echo (then cleared)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set at each answer


class Dropped(Exception):
    """The socket closed or failed: reconnect with the resume secret."""


class ChaosCustomer:
    """A widget-like customer: one scripted conversation after another; a queued conversation
    (any system line) is left for a new chat, since the bot no longer answers it."""

    def __init__(self, number: int, session: aiohttp.ClientSession, ws_url: str, probe_text: str, tally: Tally) -> None:
        self.number, self.session, self.ws_url, self.probe_text = number, session, ws_url, probe_text
        self.tally, self.rng = tally, random.Random(number)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.resume: str | None = None
        self.pending: dict[str, dict[str, Any]] = {}  # sent, not yet seen echoed
        tally.per_customer_answers[number] = []

    async def run(self, keep_going: Callable[[], bool]) -> None:
        try:
            while keep_going():
                await self._close()
                self.resume, self.pending = None, {}
                for step in conversation(self.rng):
                    if not keep_going() or await self.say(step):
                        break
        finally:
            await self._close()

    async def say(self, step: Step) -> bool:
        """One turn; True when the conversation went to a person (a system line)."""
        frame: dict[str, Any] = {"type": "message", "text": step.text, "client_id": uuid.uuid4().hex}
        if step.payload:
            frame["payload"] = step.payload
        self.pending[frame["client_id"]] = frame
        for _ in range(100):
            try:
                if self.ws is None:
                    await self._connect()
                for waiting in list(self.pending.values()):
                    await self._send(json.dumps(waiting))
                await self._send(PROBE)
                return await self._read_turn()
            except Dropped:
                await self._close()
        raise AssertionError(f"customer {self.number} could not get through")

    async def _send(self, data: str) -> None:
        assert self.ws is not None
        try:
            await self.ws.send_str(data)
        except (aiohttp.ClientError, ConnectionError) as error:
            raise Dropped() from error

    async def _connect(self) -> None:
        """Like the widget: until the gateway answers (quickly here: it is back in seconds)."""
        url = self.ws_url + (f"?resume={self.resume}" if self.resume else "")
        deadline = time.monotonic() + 30
        while True:
            try:
                self.ws = await self.session.ws_connect(url, headers={"Origin": ORIGIN},
                                                        timeout=aiohttp.ClientWSTimeout(ws_close=2))
                hello = await self.ws.receive_json(timeout=10)
                break
            except (aiohttp.ClientError, ConnectionError, *TIMEOUTS, ValueError, TypeError):
                await self._close()
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        if self.resume:
            self.tally.reconnects += 1
        self.resume = hello["resume"]
        self.tally.conversations.add(hello["conversation_id"])
        self.conversation_id = hello["conversation_id"]
        for line in hello.get("history") or []:
            self._saw(line, live=False)
        self.tally.resent += len(self.pending)

    async def _read_turn(self) -> bool:
        """Every frame up to the gateway's answer to the probe (see bench/clients.py)."""
        assert self.ws is not None
        system = False
        while True:
            try:
                message = await self.ws.receive(timeout=90)
            except TIMEOUTS as error:
                raise AssertionError(f"customer {self.number}: no answer in 90 s") from error
            if message.type != aiohttp.WSMsgType.TEXT:
                raise Dropped()
            data = json.loads(message.data)
            if data.get("type") == "error" and data.get("text") == self.probe_text:
                return system
            if data.get("type") == "message":
                system = self._saw(data["message"], live=True) == "system" or system

    def _saw(self, line: dict[str, Any], live: bool) -> str:
        sender = str(line.get("from"))
        if sender == "customer" and line.get("client_id") in self.pending:
            del self.pending[line["client_id"]]
            self.tally.echoed[line["client_id"]] = self.conversation_id
            self.tally.changed.set()
            if live and self.tally.on_echo is not None:
                hook, self.tally.on_echo = self.tally.on_echo, None
                hook()
        elif sender in ANSWERS:
            self.tally.promised.update(TICKET.findall(line.get("text") or ""))
            if live:
                now = time.monotonic()
                self.tally.answers.append(now)
                self.tally.per_customer_answers[self.number].append(now)
                self.tally.changed.set()
        return sender

    async def _close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
            self.ws = None


class Crowd:
    """`size` customers chatting until stopped."""

    def __init__(self, stack: Launched, size: int = 10) -> None:
        self.stack, self.size, self.tally = stack, size, Tally()
        self._going = True
        self._tasks: list[asyncio.Task[None]] = []
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Crowd":
        self.session = aiohttp.ClientSession()
        ws_url = self.stack.gateway_url.replace("http", "ws", 1) + "/ws/chat"
        probe_text = await probe_reply(self.session, ws_url)
        customers = [ChaosCustomer(n, self.session, ws_url, probe_text, self.tally) for n in range(self.size)]
        self._tasks = [asyncio.create_task(customer.run(lambda: self._going)) for customer in customers]
        return self

    def stop(self) -> None:
        """Customers finish the turn they are in (reconnecting if need be) and say no more."""
        self._going = False

    async def until(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        """Until `condition()` holds, checked whenever a customer sees an echo or an answer."""
        deadline = time.monotonic() + seconds
        while not condition():
            for task in self._tasks:
                if task.done():
                    task.result()  # a customer's failure is the test's
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} within {seconds} s")
            self.tally.changed.clear()
            with contextlib.suppress(*TIMEOUTS):
                await asyncio.wait_for(self.tally.changed.wait(), 1)

    async def everyone_answered_after(self, moment: float, seconds: float = 45) -> None:
        """Until each customer has had a line answered after `moment`."""
        def waiting() -> list[int]:
            return [n for n, times in self.tally.per_customer_answers.items() if not any(t > moment for t in times)]

        await self.until(lambda: not waiting(), seconds, "not every customer was answered")

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        try:
            await asyncio.wait_for(asyncio.gather(*self._tasks), 120)
        finally:
            for task in self._tasks:
                task.cancel()
            assert self.session is not None
            await self.session.close()
