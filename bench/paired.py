"""The gateway's overhead for one customer, measured in pairs.

Subtracting raw Rasa's p50 from the gateway's, each from its own 10-second blocks, swung by
up to 10 ms between runs of the same code: Rasa's time for a message drifts by several
milliseconds from one block to the next, more than the gateway adds. Here one customer sends
each script step twice, once straight to Rasa's REST channel and once through the gateway's
WebSocket, right after each other, in two conversations on the same Rasa process (which one
goes first alternates). Both turns of a pair see the same Rasa, so the median of the
per-pair differences is the gateway's overhead without the drift."""
from __future__ import annotations

import itertools
import random
import time
import uuid
from typing import Any

import aiohttp

from bench.clients import GatewayCustomer, RestCustomer, Turn
from bench.metrics import percentile
from bench.script import conversation
from bench.settings import BenchSettings
from bench.stack import Stack
from bot.rasa_client import engine_index


def raw_sender_on(engine: int, engines: int) -> str:
    """A new REST sender id that the gateway's hash puts on the Rasa process `engine`."""
    return next(s for s in (f"bench-{uuid.uuid4().hex[:16]}" for _ in itertools.count())
                if engine_index(s, engines) == engine)


def figures(pairs: list[tuple[Turn, Turn]], failed: int) -> dict[str, Any]:
    """`pairs` of answered (raw, gateway) turns; `failed` pairs where either side failed."""
    diffs = [g.latency_ms - r.latency_ms for r, g in pairs if r.latency_ms is not None and g.latency_ms is not None]
    return {
        "pairs": len(diffs),
        "failed_pairs": failed,
        "overhead_p50_ms": percentile(diffs, 50) if diffs else None,
        "overhead_p25_ms": percentile(diffs, 25) if diffs else None,
        "overhead_p75_ms": percentile(diffs, 75) if diffs else None,
        "raw_p50_ms": percentile([r.latency_ms for r, _ in pairs if r.latency_ms is not None], 50) if diffs else None,
        "gateway_p50_ms": percentile([g.latency_ms for _, g in pairs if g.latency_ms is not None], 50) if diffs else None,
    }


async def paired_overhead(stack: Stack, settings: BenchSettings, probe: str) -> dict[str, Any]:
    """Pairs of turns for `settings.seconds`; see the module docstring."""
    assert stack.gateway_url is not None
    pairs: list[tuple[Turn, Turn]] = []
    failed = 0
    rng = random.Random(11)
    deadline = time.perf_counter() + settings.seconds
    async with aiohttp.ClientSession() as session:
        gateway = GatewayCustomer(session, settings.turn_timeout, f"{stack.gateway_url}/ws/chat", probe)
        raw = RestCustomer(session, settings.turn_timeout, stack.rasa_urls, stack.channel_headers)
        order = itertools.cycle((True, False))
        while time.perf_counter() < deadline:
            ws, conversation_id = await gateway.connect()
            engine = engine_index(conversation_id, len(stack.rasa_urls))
            raw.url = raw.urls[engine]
            sender = raw_sender_on(engine, len(stack.rasa_urls))
            try:
                for step in conversation(rng):
                    if time.perf_counter() >= deadline:
                        break
                    if next(order):
                        r = await raw.turn(sender, step)
                        g = await gateway.turn(ws, step)
                    else:
                        g = await gateway.turn(ws, step)
                        r = await raw.turn(sender, step)
                    if r.error or g.error:
                        failed += 1
                        break  # either conversation may be out of step now: start both again
                    pairs.append((r, g))
            finally:
                await ws.close()
    return figures(pairs, failed)
