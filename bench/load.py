"""Speed, end to end, on the real stack (`.venv/bin/python -m bench.load`).

1. Closed loop: N customers each send their next message as soon as the bot's last reply to
   the previous one arrived, through the gateway and, as the reference in the same run,
   straight to Rasa's REST channel. Every level runs for BENCH_SECONDS and stops by itself.
2. Capacity: customers who wait BENCH_THINK_SECONDS (3 s) between messages, like a person
   typing, joined gradually; more of them at each step until p95 > 300 ms or any error.

It also times the stack's start-up and samples each process's memory at idle and under load.
All traffic goes to 127.0.0.1."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from tqdm import tqdm

from bench.clients import Customer, GatewayCustomer, RestCustomer, Turn, probe_reply
from bench.paired import paired_overhead
from bench.metrics import latency_summary, percentile, ratio
from bench.script import conversation
from bench.settings import BenchSettings, capacity_levels
from bench.stack import (LOAD_CLIENT_LIMITS, MemoryPeak, Stack, StackOptions, answers_tcp, rss_mib,
                         scratch_postgres, start_stack)

FALLBACK_STEPS = (10, 5, 1)  # tried downwards only when the first capacity step misses
RAMP_PER_SECOND = 20  # new customers joining per second during a capacity step
SETTLE_SECONDS = 1.0  # pause between phases so one phase's tail does not land in the next
WARM_UP_CONVERSATIONS = 3
IDLE_SECONDS = 3.0  # after start-up, before measuring memory at idle
BLOCK_SECONDS = 10.0  # closed loop: raw and gateway alternate in blocks of about this long

T = TypeVar("T")
MakeCustomer = Callable[[aiohttp.ClientSession], Customer]


def phase_figures(turns: list[Turn], seconds: float) -> dict[str, Any]:
    """Throughput, latency percentiles and errors of the turns started inside the window."""
    answered = [t for t in turns if t.error is None and t.latency_ms is not None]
    ok = [t.latency_ms for t in answered if t.latency_ms is not None]
    errors = Counter(t.error for t in turns if t.error)
    typing = [t.typing_off_ms for t in answered if t.typing_off_ms is not None]
    delivered = [t for t in answered if t.typing_off_ms is not None]
    delivery = [(t.latency_ms or 0.0) - (t.typing_off_ms or 0.0) for t in delivered]
    own = [t.echo_ms + d for t, d in zip(delivered, delivery) if t.echo_ms is not None]
    by_step: dict[str, list[float]] = {}
    for t in answered:
        by_step.setdefault(t.step, []).append(t.latency_ms or 0.0)
    return {
        "messages": len(turns),
        "answered": len(ok),
        "throughput_msg_s": len(ok) / seconds if seconds > 0 else math.nan,
        **latency_summary(ok),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "lost": errors.get("lost", 0),
        "off_script": sum(t.off_script for t in turns),
        # Gateway only: when Rasa's answer reached the gateway (typing off), and how long the
        # gateway then took to store and deliver the replies.
        "typing_off_p50_ms": percentile(typing, 50) if typing else None,
        "delivery_p50_ms": percentile(delivery, 50) if delivery else None,
        # The gateway's own time in the same turn, so Rasa's jitter is not in it: until the
        # customer's stored line came back (receive, store, echo), plus delivery.
        "own_p50_ms": percentile(own, 50) if own else None,
        # The script's messages differ a lot in cost (a form step calls the action server), so
        # compare gateway and raw per message too, not only over the mix.
        "p50_by_step_ms": {step: percentile(values, 50) for step, values in sorted(by_step.items())},
    }


async def drive(
    make: MakeCustomer, customers: int, seconds: float, think: float, ramp: float,
    timeout: float, label: str, seed: int,
) -> list[Turn]:
    """`customers` concurrent customers, joined evenly over `ramp` seconds, then measured for
    `seconds`; after that nobody starts a new message and the phase ends by itself. Returns
    the turns started inside the measured window."""
    turns: list[Turn] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeouts = aiohttp.ClientTimeout(total=None, sock_connect=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeouts) as session:
        began = time.perf_counter()
        measure_from = began + ramp
        deadline = measure_from + seconds

        def keep_going() -> bool:
            return time.perf_counter() < deadline

        async def customer(index: int) -> None:
            await asyncio.sleep(ramp * index / customers)
            rng = random.Random(seed * 100_003 + index)
            client = make(session)
            if think:
                await asyncio.sleep(rng.uniform(0, think))  # people do not type in step
            while keep_going():
                await client.converse(conversation(rng), keep_going, think, turns.append)

        tasks = [asyncio.create_task(customer(i)) for i in range(customers)]
        total = int(math.ceil(ramp + seconds))
        with tqdm(total=total, desc=label, file=sys.stderr,
                  bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {n}/{total} s{postfix}") as bar:
            while not all(task.done() for task in tasks):
                await asyncio.wait(tasks, timeout=1)
                bar.update(min(int(time.perf_counter() - began), total) - bar.n)
                bar.set_postfix_str(f"{len(turns)} messages, {sum(t.error is not None for t in turns)} errors")
        for task in tasks:
            task.result()  # a bug in the load client must not pass silently
    return [t for t in turns if t.started >= measure_from]


def compare(level: dict[str, Any]) -> dict[str, Any]:
    """Add gateway / raw ratios and the gateway's overhead at p50, both over the whole mix and
    as the median of per-message differences (robust to a slightly different mix)."""
    g, r = level["gateway"], level["raw"]
    level["ratio"] = {k: ratio(g[k], r[k]) for k in ("throughput_msg_s", "p50_ms", "p95_ms", "p99_ms")}
    level["overhead_p50_ms"] = g["p50_ms"] - r["p50_ms"]
    shared = [g["p50_by_step_ms"][k] - r["p50_by_step_ms"][k] for k in g["p50_by_step_ms"] if k in r["p50_by_step_ms"]]
    level["overhead_p50_by_step_median_ms"] = percentile(shared, 50)
    return level


async def closed_loop(stack: Stack, settings: BenchSettings, probe: str) -> list[dict[str, Any]]:
    """Each level against raw Rasa and through the gateway, alternating in blocks of about
    10 s (raw, gateway, raw, gateway, ...) with the same scripts in each pair of blocks, so
    drift over the run (warming caches, a growing tracker store) hits both paths alike."""
    ws_url = f"{stack.gateway_url}/ws/chat"
    t = settings.turn_timeout
    blocks = max(1, round(settings.seconds / BLOCK_SECONDS))
    window = settings.seconds / blocks
    levels = []
    for n in settings.levels:
        ramp = min(2.0, 0.05 * n)
        paths: dict[str, tuple[MakeCustomer, list[Turn]]] = {
            "raw": (lambda s: RestCustomer(s, t, stack.rasa_urls, stack.channel_headers), []),
            "gateway": (lambda s: GatewayCustomer(s, t, ws_url, probe), []),
        }
        for block in range(blocks):
            for name, (make, turns) in paths.items():
                label = f"{'raw Rasa' if name == 'raw' else 'gateway':8} {n:>3} customers {block + 1}/{blocks}"
                turns += await drive(make, n, window, 0, ramp, t, label, seed=block)
                await asyncio.sleep(SETTLE_SECONDS)
        level: dict[str, Any] = {"customers": n}
        for name, (_, turns) in paths.items():
            level[name] = phase_figures(turns, window * blocks)
            level[name].update(customers=n, seconds=window * blocks, blocks=blocks, ramp_seconds=ramp)
        levels.append(compare(level))
    return levels


async def capacity_step(stack: Stack, settings: BenchSettings, probe: str, n: int,
                        gateways: list[str] | None = None) -> dict[str, Any]:
    """n typing-paced customers through the gateway, joined gradually, then measured.
    `gateways`: the gateways' URLs the customers are spread over in turn (default: the first)."""
    ws_urls, t = [f"{url}/ws/chat" for url in gateways or [stack.gateway_url]], settings.turn_timeout
    ramp = max(settings.think_seconds, n / RAMP_PER_SECOND)
    joined = itertools.count()
    turns = await drive(lambda s: GatewayCustomer(s, t, ws_urls[next(joined) % len(ws_urls)], probe), n,
                        settings.seconds, settings.think_seconds, ramp, t,
                        f"capacity {n:>3} customers" + (f", {len(ws_urls)} gateways" if len(ws_urls) > 1 else ""),
                        seed=1000 + n)
    figures = phase_figures(turns, settings.seconds)
    figures.update(customers=n, seconds=settings.seconds, ramp_seconds=ramp, think_seconds=settings.think_seconds)
    figures["met"] = figures["errors"] == 0 and figures["answered"] > 0 and figures["p95_ms"] <= settings.capacity_p95_ms
    await asyncio.sleep(SETTLE_SECONDS)
    return figures


async def capacity(stack: Stack, settings: BenchSettings, probe: str,
                   gateways: list[str] | None = None) -> dict[str, Any]:
    """The largest number of typing-paced customers the gateway serves within the target:
    up the steps until one misses. If even the first step misses, down through
    FALLBACK_STEPS until one meets, so a slow machine still gets a number rather than 0."""
    ladder = capacity_levels(settings.capacity_max)
    steps, best = [], 0
    for n in ladder:
        steps.append(await capacity_step(stack, settings, probe, n, gateways))
        if not steps[-1]["met"]:
            break
        best = n
    if best == 0:
        for n in (m for m in FALLBACK_STEPS if m < ladder[0]):
            steps.append(await capacity_step(stack, settings, probe, n, gateways))
            if steps[-1]["met"]:
                best = n
                break
    return {"p95_limit_ms": settings.capacity_p95_ms, "think_seconds": settings.think_seconds,
            "max_tried": settings.capacity_max, "capacity": best, "steps": steps}


async def warm_up(stack: Stack, settings: BenchSettings,
                  address: Callable[[int], str] | None = None) -> str:
    """A few whole conversations each way (the first messages after a start are slow), and
    the gateway's answer to the end-of-turn probe. Fails early if the bot is not answering.
    `address(i)`: the local address of warm-up conversation i, for runs with the shipped
    limits (one address going flat out would be refused, as it should be)."""
    turns: list[Turn] = []
    ws_url = f"{stack.gateway_url}/ws/chat"

    def connector(index: int) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(local_addr=(address(index), 0)) if address else aiohttp.TCPConnector()

    async with aiohttp.ClientSession(connector=connector(WARM_UP_CONVERSATIONS)) as session:
        probe = await probe_reply(session, ws_url)
    for seed in range(WARM_UP_CONVERSATIONS):
        async with aiohttp.ClientSession(connector=connector(seed)) as session:
            clients = (RestCustomer(session, settings.turn_timeout, stack.rasa_urls, stack.channel_headers),
                       GatewayCustomer(session, settings.turn_timeout, ws_url, probe))
            for client in clients:
                await client.converse(conversation(random.Random(seed)), lambda: True, 0, turns.append)
    failed = Counter(t.error for t in turns if t.error)
    if failed:
        raise RuntimeError(f"the warm-up conversations failed ({dict(failed)}):\n{stack.tails()}")
    if any(t.off_script for t in turns):
        print("Warning: the bot did not offer the buttons the script expects; see off_script.", file=sys.stderr)
    return probe


async def _measure(stack: Stack, settings: BenchSettings) -> dict[str, Any]:
    probe = await warm_up(stack, settings)
    with MemoryPeak(stack.pids) as memory:
        paired = await paired_overhead(stack, settings, probe)
        levels = await closed_loop(stack, settings, probe)
        cap = await capacity(stack, settings, probe)
    return {"paired_one_customer": paired, "closed_loop": levels, "capacity": cap, "memory_peak_mib": memory.peak}


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """uvloop when it is there: a lighter load client leaves more of the two cores to the stack."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def layout(settings: BenchSettings, database_url: str | None) -> StackOptions:
    """The production layout where this machine allows it: as many Rasa processes as asked
    (default 2, one per core) sharing their locks in Redis and a PostgreSQL database."""
    redis = answers_tcp("127.0.0.1", 6379)
    engines = settings.rasa_processes or (2 if redis else 1)
    if engines > 1 and not redis:
        raise RuntimeError(f"{engines} Rasa processes need Redis for their locks; none answers on 127.0.0.1:6379")
    return StackOptions(engines=engines, lock_store="redis" if engines > 1 else "in_memory", redis_db=3,
                        tracker_store_url=database_url, database_url=database_url,
                        gateway_env=LOAD_CLIENT_LIMITS)


def run_speed(settings: BenchSettings) -> dict[str, Any]:
    """Start the stack, measure everything that needs it, stop it. Returns the figures."""
    with tempfile.TemporaryDirectory(prefix="caredesk-bench-") as workdir, contextlib.ExitStack() as cleanup:
        database_url = (cleanup.enter_context(scratch_postgres(settings.postgres_url, "bench"))
                        if settings.postgres_url else None)
        options = layout(settings, database_url)
        print(f"Starting the action server, {options.describe()} and the gateway ...", file=sys.stderr)
        stack = start_stack(Path(workdir), options, settings.model)
        try:
            time.sleep(IDLE_SECONDS)
            idle = rss_mib(stack.pids)
            figures = _run_async(_measure(stack, settings))
        except BaseException:
            print(stack.tails(), file=sys.stderr)
            raise
        finally:
            stack.stop()
    figures["layout"] = options.describe()
    figures["startup"] = {
        "stack_seconds": stack.startup_seconds,
        **{f"{s.name}_seconds": s.ready_after for s in stack.services},
    }
    figures["memory_idle_mib"] = idle
    figures["settings"] = {"levels": list(settings.levels), "seconds": settings.seconds,
                           "capacity_max": settings.capacity_max, "turn_timeout": settings.turn_timeout}
    return figures


def main() -> None:
    figures = run_speed(BenchSettings.from_env())
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
