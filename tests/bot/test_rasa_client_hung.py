"""A Rasa process that accepts messages and never answers (SIGSTOP, a stuck loop): the
deadline, the health probes, moving its conversations, and resending only what carries a
message id. The engines are small HTTP servers (tests/bot/test_rasa_client.py); the real
stack with a stopped Rasa is tests/e2e/test_engine_faults.py."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.rasa_client import RasaClient, RasaUnavailable
from tests.bot.test_rasa_client import Engine, started, until


class Hangable(Engine):
    """An engine whose `/` (the health probe's URL) also hangs while `gate` is clear."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.server.app.router.add_get("/", self.hello)
        self.message_ids: list[str | None] = []

    async def hello(self, request: web.Request) -> web.Response:
        await self.gate.wait()
        return web.Response(text="Hello from Rasa")

    async def webhook(self, request: web.Request) -> web.Response:
        self.message_ids.append((await request.json()).get("message_id"))
        return await super().webhook(request)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def silent() -> AsyncIterator[str]:
    """A port that accepts connections and reads, and never writes a byte back."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    for writer in held:
        writer.close()
    server.close()


def homed_on(client: RasaClient, url: str, prefix: str = "web") -> str:
    return next(s for s in (f"{prefix}-{n}" for n in range(1000)) if client.engines_for(s)[0] == url)


async def test_a_process_that_never_answers_is_a_clear_error_at_the_deadline(http, silent) -> None:
    """aiohttp raises asyncio.TimeoutError, which on Python 3.10 is not the built-in
    TimeoutError the client used to catch: the router got a raw exception instead."""
    client = RasaClient(http, silent, "secret", reply_timeout=0.5)
    began = asyncio.get_running_loop().time()
    with pytest.raises(RasaUnavailable, match="no answer .* within 0.5 s"):
        await client.send("web-1", "my parcel is late", {})
    assert asyncio.get_running_loop().time() - began < 2


async def test_without_a_message_id_a_hung_process_s_message_is_not_sent_elsewhere(http) -> None:
    hung, spare = await started(Hangable("hung"), Hangable("spare"))
    client = RasaClient(http, [hung.url, spare.url], "secret", reply_timeout=0.3)
    hung.gate.clear()
    sender = homed_on(client, hung.url)
    with pytest.raises(RasaUnavailable):
        await client.send(sender, "my parcel is late", {})
    assert hung.senders == [sender] and spare.senders == [], "Rasa may have handled it: no duplicate"
    hung.gate.set()
    for engine in (hung, spare):
        await engine.server.close()


async def test_with_a_message_id_it_goes_to_the_next_process_which_keeps_the_conversation(http) -> None:
    hung, spare = await started(Hangable("hung"), Hangable("spare"))
    client = RasaClient(http, [hung.url, spare.url], "secret", reply_timeout=0.3)
    hung.gate.clear()
    sender = homed_on(client, hung.url)
    [reply] = await client.send(sender, "my parcel is late", {}, message_id="cd-41")
    assert reply["text"] == "spare: my parcel is late"
    assert hung.message_ids == ["cd-41"] and spare.message_ids == ["cd-41"], "the same id both times"
    [reply] = await client.send(sender, "order 1234", {}, message_id="cd-42")
    assert reply["text"] == "spare: order 1234" and hung.senders == [sender], "it stays with the one that answered"
    hung.gate.set()
    for engine in (hung, spare):
        await engine.server.close()


async def test_probes_mark_a_hung_process_down_and_its_conversations_move(http) -> None:
    hung, spare = await started(Hangable("hung"), Hangable("spare"))
    client = RasaClient(http, [hung.url, spare.url], "secret", reply_timeout=1)
    home = homed_on(client, hung.url)
    watching = asyncio.create_task(client.watch_health(interval=0.1, timeout=0.1))
    try:
        hung.gate.clear()
        with pytest.raises(RasaUnavailable, match="no answer"):
            await client.send(home, "where is my refund?", {})  # it was inside: the deadline
        await until(lambda: not client.health.is_up(hung.url))
        assert client.healthy()
        [reply] = await client.send(home, "hello?", {})
        assert reply["text"] == "spare: hello?", "its conversation moved to the healthy process"
        for sender in (f"new-{n}" for n in range(20)):
            [reply] = await client.send(sender, "hi", {})
            assert reply["text"] == "spare: hi", "new conversations go to the healthy process"
        assert hung.senders == [home], "nothing more was sent to the hung process"
        hung.gate.set()
        await until(lambda: client.health.is_up(hung.url))
        later = next(s for s in (f"later-{n}" for n in range(1000))
                     if RasaClient(http, [hung.url, spare.url], "secret").engines_for(s)[0] == hung.url)
        assert (await client.send(later, "hi", {}))[0]["text"] == "hung: hi", "back up: it takes conversations again"
    finally:
        hung.gate.set()
        watching.cancel()
        for engine in (hung, spare):
            await engine.server.close()


async def test_a_late_probe_answer_is_not_an_outage_and_all_down_still_tries(http) -> None:
    """One missed probe marks nothing down; and when the probes call every process down (a
    busy machine can miss them all), messages are still sent rather than refused."""
    [slow] = await started(Hangable("slow"))
    client = RasaClient(http, slow.url, "secret", reply_timeout=5)
    slow.gate.clear()
    await client.health.probe(http, slow.url, timeout=0.05)
    assert client.healthy(), "one miss is not enough"
    await client.health.probe(http, slow.url, timeout=0.05)
    assert not client.healthy()
    sending = asyncio.create_task(client.send("web-1", "hi", {}))
    await until(lambda: slow.in_hand == 1)
    slow.gate.set()
    assert (await sending)[0]["text"] == "slow: hi"
    await client.health.probe(http, slow.url, timeout=1)
    assert client.healthy(), "one answer marks it up again"
    await slow.server.close()


def test_the_deadline_and_the_probes_are_settings() -> None:
    from bot.settings import Settings

    default = Settings.from_env({})
    assert (default.rasa_reply_timeout, default.rasa_health_interval, default.rasa_health_timeout) == (15, 2, 3)
    tuned = Settings.from_env({"RASA_REPLY_TIMEOUT_SECONDS": "6.5", "RASA_HEALTH_INTERVAL_SECONDS": "0",
                               "RASA_HEALTH_TIMEOUT_SECONDS": "0.5"})
    assert (tuned.rasa_reply_timeout, tuned.rasa_health_interval, tuned.rasa_health_timeout) == (6.5, 0, 0.5)
    with pytest.raises(ValueError, match="RASA_REPLY_TIMEOUT_SECONDS"):
        Settings.from_env({"RASA_REPLY_TIMEOUT_SECONDS": "0"})
