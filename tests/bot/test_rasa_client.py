"""Several Rasa processes behind the gateway: which one gets a conversation, and what happens
when one is down. The engines here are small HTTP servers that record what reached them (the
real several-process stack runs in tests/e2e and in `make bench`)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.rasa_client import RasaClient, RasaUnavailable
from tests.e2e.servers import free_port


class Engine:
    """Answers the REST channel like Rasa, naming itself, and keeps every sender it saw."""

    def __init__(self, name: str, status: int = 200) -> None:
        self.name, self.status = name, status
        self.senders: list[str] = []
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        app.router.add_post("/conversations/{sender}/tracker/events", self.event)
        self.server = TestServer(app, host="127.0.0.1")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.senders.append(body["sender"])
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
