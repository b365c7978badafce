"""Several Rasa processes behind the gateway: which one gets a conversation, how many
messages each gets at once, and what happens when one is down or too busy. The engines here are small HTTP servers that record what reached them (the
real several-process stack runs in tests/e2e and in `make bench`)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.rasa_client import RasaClient, RasaUnavailable, Slots
from tests.e2e.servers import free_port


class Engine:
    """Answers the REST channel like Rasa, naming itself, and keeps every sender it saw."""

    def __init__(self, name: str, status: int = 200) -> None:
        self.name, self.status = name, status
        self.senders: list[str] = []
        self.channel_secrets: list[str | None] = []  # the X-CareDesk-Channel-Secret of each message
        self.gate = asyncio.Event()  # cleared: messages are held until it is set
        self.gate.set()
        self.slow: set[str] = set()  # senders whose messages wait for `slow_gate`
        self.slow_gate = asyncio.Event()
        self.in_hand = self.most_in_hand = 0
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        app.router.add_post("/conversations/{sender}/tracker/events", self.event)
        self.server = TestServer(app, host="127.0.0.1")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.senders.append(body["sender"])
        self.channel_secrets.append(request.headers.get("X-CareDesk-Channel-Secret"))
        self.in_hand += 1
        self.most_in_hand = max(self.most_in_hand, self.in_hand)
        try:
            await (self.slow_gate if body["sender"] in self.slow else self.gate).wait()
        finally:
            self.in_hand -= 1
        if self.status != 200:
            return web.json_response({"error": "boom"}, status=self.status)
        return web.json_response([{"recipient_id": body["sender"], "text": f"{self.name}: {body['message']}"}])

    async def event(self, request: web.Request) -> web.Response:
        assert request.query["token"] == "secret"
        self.senders.append(request.match_info["sender"])
        return web.json_response({"sender_id": request.match_info["sender"], "paused": False})

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def started(*engines: Engine) -> list[Engine]:
    for engine in engines:
        await engine.server.start_server()
    return list(engines)


async def test_each_conversation_stays_with_one_process_and_all_processes_get_some(http) -> None:
    a, b = await started(Engine("a"), Engine("b"))
    client = RasaClient(http, f"{a.url}, {b.url}", "secret")
    try:
        for n in range(40):
            for _ in range(3):
                [reply] = await client.send(f"web-{n}", "hi", {})
                assert reply["text"].endswith(": hi")
        assert set(a.senders).isdisjoint(b.senders), "a conversation never moves while its process is up"
        assert len(a.senders) == 3 * len(set(a.senders)) and len(b.senders) == 3 * len(set(b.senders))
        assert 10 <= len(set(a.senders)) <= 30, "conversations are spread over both processes"
        await client.resume("web-1")
        owner = a if client.engines_for("web-1")[0] == a.url else b
        assert "web-1" in owner.senders[:-1]
        assert owner.senders[-1] == "web-1", "resuming goes to the conversation's own process"
    finally:
        for engine in (a, b):
            await engine.server.close()


async def test_a_stopped_process_is_skipped_for_the_next_one(http) -> None:
    [b] = await started(Engine("b"))
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = RasaClient(http, [down, b.url], "secret")
    senders = [f"tg-{n}" for n in range(20)]
    for sender in senders:
        [reply] = await client.send(sender, "hello", {})
        assert reply["text"] == "b: hello"
    assert b.senders == senders, "every message arrived once"
    await b.server.close()


async def test_an_error_answer_is_not_sent_again_elsewhere(http) -> None:
    broken, spare = await started(Engine("broken", status=500), Engine("spare"))
    client = RasaClient(http, [broken.url, spare.url], "secret")
    sender = next(f"web-{n}" for n in range(100) if client.engines_for(f"web-{n}")[0] == broken.url)
    with pytest.raises(RasaUnavailable):
        await client.send(sender, "my parcel is late", {})
    assert broken.senders == [sender] and spare.senders == [], "the message may have been handled: no duplicate"
    for engine in (broken, spare):
        await engine.server.close()


async def test_nothing_answering_is_one_clear_error(http) -> None:
    client = RasaClient(http, f"http://127.0.0.1:{free_port()},http://127.0.0.1:{free_port()}", "secret")
    with pytest.raises(RasaUnavailable, match="no Rasa process answered"):
        await client.send("web-1", "hi", {})


async def until(condition: Callable[[], bool], seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_a_process_gets_at_most_max_in_flight_messages_and_the_rest_wait_in_order(http) -> None:
    [a] = await started(Engine("a"))
    client = RasaClient(http, a.url, "secret", max_in_flight=3)
    a.gate.clear()
    senders = [f"web-{n}" for n in range(10)]
    tasks = []
    for sender in senders:
        tasks.append(asyncio.create_task(client.send(sender, "hi", {})))
        await asyncio.sleep(0.01)  # arrive in this order
    await until(lambda: a.in_hand == 3)
    await asyncio.sleep(0.1)
    assert a.senders == senders[:3], "the others wait in the gateway"
    a.gate.set()
    replies = await asyncio.gather(*tasks)
    assert [r[0]["text"] for r in replies] == ["a: hi"] * 10, "nothing lost"
    assert a.most_in_hand == 3
    assert a.senders == senders, "first come, first served"
    await a.server.close()


async def test_a_message_that_waits_too_long_for_a_busy_process_is_a_clear_error(http) -> None:
    [a] = await started(Engine("a"))
    client = RasaClient(http, a.url, "secret", max_in_flight=1, queue_timeout=0.2)
    a.gate.clear()
    first = asyncio.create_task(client.send("web-1", "my parcel is late", {}))
    await until(lambda: a.in_hand == 1)
    with pytest.raises(RasaUnavailable, match="busy"):
        await client.send("web-2", "hello?", {})
    assert a.senders == ["web-1"], "the waiting message was never sent"
    a.gate.set()
    assert (await first)[0]["text"] == "a: my parcel is late"
    assert (await client.send("web-2", "hello?", {}))[0]["text"] == "a: hello?", "its slot was not lost"
    await a.server.close()


async def test_a_new_conversation_goes_to_the_less_busy_process_and_stays_there(http) -> None:
    a, b = await started(Engine("a"), Engine("b"))
    client = RasaClient(http, [a.url, b.url], "secret", max_in_flight=4)
    on_a = [s for s in (f"web-{n}" for n in range(100)) if client.engines_for(s)[0] == a.url]
    a.gate.clear()
    busy = [asyncio.create_task(client.send(s, "hi", {})) for s in on_a[:2]]
    await until(lambda: a.in_hand == 2)
    newcomer = next(s for s in (f"new-{n}" for n in range(1000))
                    if RasaClient(http, [a.url, b.url], "secret").engines_for(s)[0] == a.url)
    [reply] = await client.send(newcomer, "hi", {})
    assert reply["text"] == "b: hi", "its hash says a, but a has two messages in hand and b none"
    a.gate.set()
    await asyncio.gather(*busy)
    for _ in range(3):
        [reply] = await client.send(newcomer, "and?", {})
        assert reply["text"] == "b: and?", "a conversation stays with its process"
    await client.resume(newcomer)
    assert b.senders[-1] == newcomer
    for engine in (a, b):
        await engine.server.close()


async def test_a_freed_slot_goes_to_the_longest_waiter_not_to_a_newcomer() -> None:
    slots = Slots(1)
    await slots.acquire(1)
    order: list[str] = []

    async def take(name: str) -> None:
        await slots.acquire(1)
        order.append(name)

    waiter = asyncio.create_task(take("waiter"))
    await asyncio.sleep(0)
    slots.release()
    newcomer = asyncio.create_task(take("newcomer"))  # arrives before the waiter wakes up
    await asyncio.sleep(0.01)
    assert order == ["waiter"]
    slots.release()
    await asyncio.gather(waiter, newcomer)
    assert order == ["waiter", "newcomer"]
    assert slots.load == 1


async def test_a_waiter_that_gives_up_just_as_it_is_handed_a_slot_passes_it_on() -> None:
    slots = Slots(1)
    await slots.acquire(1)
    first = asyncio.create_task(slots.acquire(5))
    second = asyncio.create_task(slots.acquire(5))
    await asyncio.sleep(0)
    slots.release()  # hands the slot to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    await asyncio.sleep(0)
    await second
    assert first.cancelled()
    assert slots.load == 1, "only `second` holds a slot"
    slots.release()
    assert slots.load == 0 and slots.free == 1


async def test_a_message_held_up_by_something_slow_gives_its_slot_to_the_next_one(http) -> None:
    [a] = await started(Engine("a"))
    client = RasaClient(http, a.url, "secret", max_in_flight=1, slow_after=0.3)
    a.slow.add("web-slow")  # say, an action waiting on the shop's CRM
    slow = asyncio.create_task(client.send("web-slow", "where is my refund?", {}))
    await until(lambda: a.in_hand == 1)
    began = asyncio.get_running_loop().time()
    [reply] = await client.send("web-quick", "hi", {})
    waited = asyncio.get_running_loop().time() - began
    assert reply["text"] == "a: hi" and 0.2 < waited < 2, waited
    assert not slow.done()
    a.slow_gate.set()
    assert (await slow)[0]["text"] == "a: where is my refund?"
    a.gate.clear()
    later = [asyncio.create_task(client.send(f"web-{n}", "again", {})) for n in range(3)]
    await until(lambda: a.in_hand == 1)
    await asyncio.sleep(0.1)  # under slow_after: the limit holds
    assert a.in_hand == 1, "the slot was given back once, not twice"
    a.gate.set()
    assert [r[0]["text"] for r in await asyncio.gather(*later)] == ["a: again"] * 3
    await a.server.close()


async def test_every_message_carries_the_channel_secret(http) -> None:
    """Rasa's channel (engine/channel.py) refuses a message without it."""
    [engine] = await started(Engine("a"))
    client = RasaClient(http, engine.url, "secret", channel_secret="s3cret-channel")
    try:
        for n in range(3):
            await client.send(f"web-{n}", "hi", {})
        assert engine.channel_secrets == ["s3cret-channel"] * 3
    finally:
        await engine.server.close()
