"""Simulated customers. One talks to the gateway's chat WebSocket like the web widget; the
other posts to Rasa's REST channel directly, as the reference without the gateway.

When is the bot's answer to one message complete on the WebSocket? The gateway handles the
frames of one socket strictly one after another, and it answers a frame that is not JSON with
an `error` frame. So right after each message the customer sends such a probe: its answer
arrives only after every frame the message caused (echo, typing on/off, each bot reply,
any system notice). That is deterministic, adds nothing to the gateway and no quiet period to
wait out; the latency is measured to the last bot `message` frame, not to the probe."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.script import Step
from bench.stack import ORIGIN
from bot.rasa_client import engine_index

PROBE = "bench: end of turn?"  # deliberately not JSON; see the module docstring
# Python 3.10: asyncio's TimeoutError is not yet the built-in one; aiohttp raises either.
TIMEOUTS = (asyncio.TimeoutError, TimeoutError)


@dataclass(frozen=True)
class Turn:
    """One customer message and the bot's answer. `error` is None or one of: timeout,
    http (refused, closed or non-200), limited (the gateway's "too many messages": not stored),
    lost (no echo otherwise), missing_reply, bot_unavailable."""

    started: float
    latency_ms: float | None
    error: str | None = None
    step: str = ""
    off_script: bool = False
    typing_off_ms: float | None = None
    echo_ms: float | None = None  # gateway: when the customer's own line came back (stored)


Record = Callable[[Turn], None]
KeepGoing = Callable[[], bool]


class Customer(ABC):
    """Holds one scripted conversation at a time; a new conversation is a new chat."""

    def __init__(self, session: aiohttp.ClientSession, timeout: float) -> None:
        self.session, self.timeout = session, timeout

    @abstractmethod
    async def converse(self, steps: list[Step], keep_going: KeepGoing, think: float, record: Record) -> None:
        """Say each step (while keep_going()), recording a Turn per message."""


def _payloads(buttons: list[dict[str, Any]] | None) -> set[str]:
    return {str(b.get("payload")) for b in buttons or []}


async def probe_reply(session: aiohttp.ClientSession, ws_url: str) -> str:
    """The gateway's answer to the probe, learnt once, so no gateway wording is hard-coded."""
    async with session.ws_connect(ws_url, headers={"Origin": ORIGIN}) as ws:
        await ws.receive_json(timeout=30)
        await ws.send_str(PROBE)
        frame = await ws.receive_json(timeout=30)
    if frame.get("type") != "error" or not frame.get("text"):
        raise RuntimeError(f"the gateway no longer answers a non-JSON frame with an error: {frame}")
    return str(frame["text"])


class GatewayCustomer(Customer):
    def __init__(self, session: aiohttp.ClientSession, timeout: float, ws_url: str, probe_text: str) -> None:
        super().__init__(session, timeout)
        self.ws_url, self.probe_text = ws_url, probe_text

    async def connect(self) -> tuple[aiohttp.ClientWebSocketResponse, str]:
        """A new chat: the socket and the conversation id from the gateway's hello."""
        ws = await self.session.ws_connect(
            self.ws_url, headers={"Origin": ORIGIN}, timeout=aiohttp.ClientWSTimeout(ws_close=5),
        )
        hello = await ws.receive_json(timeout=self.timeout)
        if hello.get("type") != "hello":
            await ws.close()
            raise aiohttp.ClientError(f"expected hello, got {hello.get('type')}")
        return ws, str(hello["conversation_id"])

    async def converse(self, steps: list[Step], keep_going: KeepGoing, think: float, record: Record) -> None:
        started = time.perf_counter()
        try:
            ws, _ = await self.connect()
        except (aiohttp.ClientError, *TIMEOUTS, ValueError, KeyError):
            record(Turn(started, None, "http", "(connect)"))
            await asyncio.sleep(1)  # a refused connection must not become a busy loop
            return
        try:
            for step in steps:
                if not keep_going():
                    break
                turn = await self.turn(ws, step)
                record(turn)
                if turn.error in ("timeout", "http"):
                    break  # the socket's state is unknown: start a new conversation
                if think:
                    await asyncio.sleep(think)
        finally:
            await ws.close()

    async def turn(self, ws: aiohttp.ClientWebSocketResponse, step: Step) -> Turn:
        client_id = uuid.uuid4().hex
        frame: dict[str, Any] = {"type": "message", "text": step.text, "client_id": client_id}
        if step.payload:
            frame["payload"] = step.payload
        started = time.perf_counter()
        deadline = started + self.timeout
        echoed = trouble = limited = False
        bot_messages, last_bot, typing_off, echo = 0, 0.0, None, None
        offered: set[str] = set()
        try:
            await ws.send_str(json.dumps(frame))
            await ws.send_str(PROBE)
            while True:
                message = await ws.receive(timeout=max(deadline - time.perf_counter(), 0.001))
                now = time.perf_counter()
                if message.type != aiohttp.WSMsgType.TEXT:
                    return Turn(started, None, "http", step.for_bot)
                data = json.loads(message.data)
                kind = data.get("type")
                if kind == "error":
                    if data.get("text") == self.probe_text:
                        break
                    limited = limited or data.get("code") == "too_many_messages"
                    trouble = True
                elif kind == "typing" and data.get("from") == "bot" and not data.get("on"):
                    typing_off = now
                elif kind == "message":
                    line = data.get("message") or {}
                    sender = line.get("from")
                    if sender == "customer" and line.get("client_id") == client_id:
                        echoed, echo = True, now
                    elif sender == "bot":
                        bot_messages, last_bot = bot_messages + 1, now
                        offered |= _payloads(line.get("buttons"))
                    elif sender == "system":
                        trouble = True  # "a person will follow up": the bot did not answer
        except TIMEOUTS:
            return Turn(started, None, "timeout", step.for_bot)
        except (aiohttp.ClientError, ConnectionError, ValueError):
            return Turn(started, None, "http", step.for_bot)
        off_script = bool(step.expect_button) and step.expect_button not in offered
        to_typing_off = 1000 * (typing_off - started) if typing_off else None
        if not echoed:
            return Turn(started, None, "limited" if limited else "lost", step.for_bot)
        if trouble:
            return Turn(started, None, "bot_unavailable", step.for_bot)
        if not bot_messages:
            return Turn(started, None, "missing_reply", step.for_bot)
        to_echo = 1000 * (echo - started) if echo else None
        return Turn(started, 1000 * (last_bot - started), None, step.for_bot, off_script, to_typing_off, to_echo)


class RestCustomer(Customer):
    """Rasa's REST channel directly: one sender per conversation; latency is the round trip.
    With several Rasa processes, each conversation goes to the one the gateway's hash picks
    (the gateway's choice on an idle stack; under load it picks the less busy process)."""

    def __init__(self, session: aiohttp.ClientSession, timeout: float, rasa_urls: list[str],
                 headers: dict[str, str]) -> None:
        """`headers`: the channel secret (Stack.channel_headers); Rasa refuses messages without it."""
        super().__init__(session, timeout)
        self.urls = [f"{url}/webhooks/rest/webhook" for url in rasa_urls]
        self.headers = headers
        self.url = self.urls[0]

    async def converse(self, steps: list[Step], keep_going: KeepGoing, think: float, record: Record) -> None:
        sender = f"bench-{uuid.uuid4().hex[:16]}"
        self.url = self.urls[engine_index(sender, len(self.urls))]
        for step in steps:
            if not keep_going():
                break
            turn = await self.turn(sender, step)
            record(turn)
            if turn.error == "timeout":
                break
            if think:
                await asyncio.sleep(think)

    async def turn(self, sender: str, step: Step) -> Turn:
        started = time.perf_counter()
        try:
            async with self.session.post(
                self.url, json={"sender": sender, "message": step.for_bot}, headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                if response.status != 200:
                    await response.read()
                    return Turn(started, None, "http", step.for_bot)
                replies = await response.json()
        except TIMEOUTS:
            return Turn(started, None, "timeout", step.for_bot)
        except (aiohttp.ClientError, ConnectionError, ValueError):
            return Turn(started, None, "http", step.for_bot)
        latency = 1000 * (time.perf_counter() - started)
        answered = [r for r in replies if r.get("text") or r.get("buttons")] if isinstance(replies, list) else []
        if not answered:
            return Turn(started, None, "missing_reply", step.for_bot)
        offered = set().union(*(_payloads(r.get("buttons")) for r in answered))
        off_script = bool(step.expect_button) and step.expect_button not in offered
        return Turn(started, latency, None, step.for_bot, off_script)
