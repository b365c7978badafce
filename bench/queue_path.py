"""A message into a queued conversation while a long queue waits (issue 17, item 7):
`.venv/bin/python -m bench.queue_path [--waiting 482] [--messages 200] [--postgres URL]`.

The gateway runs in this process on a scratch database (SQLite, or a new PostgreSQL
database on the server of --postgres, dropped afterwards) with `--waiting` hand-offs waiting
and one console open; Rasa is unreachable, so the customer's first message queues the
conversation. Then the customer sends `--messages` messages one after another, each when the
previous one's echo came back, and the time from send to echo is reported (mean, p50, p95),
with how many queue frames the console got. Run it on two checkouts to compare them."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from aiohttp import web

from caredesk.db.migrate import upgrade
from caredesk.db.models import Conversation, Handoff, Message
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import PROJECT_ROOT, async_database_url
from bench.stack import scratch_postgres
from bot.app import create_app
from bot.console.auth import create_agent
from bot.settings import LimitSettings, Settings

ORIGIN = "http://127.0.0.1"
PASSWORD = "queue path benchmark"


async def seed(database_url: str, waiting: int) -> None:
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    now = dt.datetime.now(dt.timezone.utc)
    async with sessions.begin() as session:
        for n in range(waiting):
            conversation_id = f"c_wait_{n:05d}"
            session.add(Conversation(id=conversation_id, channel="webchat", mode="queued"))
            session.add_all([Message(conversation_id=conversation_id, sender="customer", text=f"line {i}")
                             for i in range(3)])
            session.add(Handoff(conversation_id=conversation_id, channel="webchat", reason="asked",
                                priority="normal", priority_score=50, status="waiting", summary={},
                                promised_response_at=now + dt.timedelta(hours=1)))
        await create_agent(session, "bench", "Bench", PASSWORD, "agent")
    await engine.dispose()


async def measure(database_url: str, messages: int) -> dict[str, float]:
    settings = Settings(
        host="127.0.0.1", port=0, database_url=database_url, rasa_url="http://127.0.0.1:9", rasa_token="t",
        allowed_origins=frozenset({ORIGIN}), console_origins=frozenset({ORIGIN}), secure_cookies=False,
        session_hours=1, domain_file=PROJECT_ROOT / "domain.yml",
        limits=dataclasses.replace(LimitSettings(), address_messages_per_minute=0, chat_messages_per_minute=0),
    )
    runner = web.AppRunner(await create_app(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    queue_frames = 0
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(f"http://{host}:{port}", cookie_jar=jar) as client:
            await client.post("/console/login", data={"username": "bench", "password": PASSWORD},
                              headers={"Origin": ORIGIN}, allow_redirects=False)
            console = await client.ws_connect("/ws/console", headers={"Origin": ORIGIN})

            async def read_console() -> None:
                nonlocal queue_frames
                async for frame in console:
                    queue_frames += frame.json().get("type") == "queue"

            reading = asyncio.create_task(read_console())
            chat = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
            await chat.receive_json()
            await chat.send_json({"type": "message", "text": "first", "client_id": "first"})
            while (await chat.receive_json()).get("message", {}).get("from") != "system":
                pass  # the bot is unreachable: queued
            await asyncio.sleep(1)  # let the hand-off's own queue update pass
            queue_frames, took = 0, []
            for n in range(messages):
                started = time.perf_counter()
                await chat.send_json({"type": "message", "text": f"still there? {n}", "client_id": f"q{n}"})
                while (await chat.receive_json()).get("message", {}).get("client_id") != f"q{n}":
                    pass
                took.append(time.perf_counter() - started)
            await asyncio.sleep(1)  # the last queue update
            await chat.close()
            await console.close()
            await reading
    finally:
        await runner.cleanup()
    took.sort()
    return {"mean_ms": 1000 * statistics.mean(took), "p50_ms": 1000 * took[len(took) // 2],
            "p95_ms": 1000 * took[int(len(took) * 0.95)], "queue_frames": queue_frames}


@contextlib.contextmanager
def database(postgres: str | None) -> Iterator[str]:
    if postgres:
        with scratch_postgres(postgres, "queue") as url:
            yield async_database_url(url)
        return
    with tempfile.TemporaryDirectory() as folder:
        yield async_database_url(f"sqlite:///{Path(folder) / 'queue.db'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.queue_path")
    parser.add_argument("--waiting", type=int, default=482)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--postgres", help="a PostgreSQL server URL; SQLite when not given")
    args = parser.parse_args()
    with database(args.postgres) as url:
        upgrade(url, configure_logging=False)
        asyncio.run(seed(url, args.waiting))
        figures = asyncio.run(measure(url, args.messages))
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"{backend}, {args.waiting} waiting, {args.messages} messages: " +
          ", ".join(f"{key} {value:.1f}" if key.endswith("_ms") else f"{key} {value:.0f}"
                    for key, value in figures.items()))


if __name__ == "__main__":
    main()
