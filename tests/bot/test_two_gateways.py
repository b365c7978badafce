"""Two whole gateways on one database and one Redis, in this process: a customer on A and an
agent on B see each other at once, the queue reaches B's console when it changes on A, and a
bot turn stored by B is what A checks a button press against."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

from aiohttp.test_utils import TestClient

from bot.app_keys import FANOUT, HUB
from tests.bot.conftest import ORIGIN, add_agent, log_in, start_client
from tests.bot.rasa_standin import RasaStandIn
from tests.bot.two_hubs import REDIS_URL, scratch_prefix
from tests.bot.test_webchat import frames_until, line



@contextlib.asynccontextmanager
async def two_gateways(make_settings, database_url: str, rasa_url: str) -> AsyncIterator[tuple[TestClient, TestClient]]:  # type: ignore[no-untyped-def]
    async with scratch_prefix() as prefix:
        settings = dataclasses.replace(make_settings(database_url, rasa_url), redis_url=REDIS_URL,
                                       redis_prefix=f"{prefix}limits:", fanout_prefix=prefix)
        a = await start_client(settings)
        b = await start_client(settings)
        try:
            for gateway in (a, b):
                await asyncio.wait_for(gateway.server.app[FANOUT].subscribed.wait(), 5)
            yield a, b
        finally:
            await a.close()
            await b.close()


async def test_a_customer_on_one_gateway_and_an_agent_on_the_other_see_each_other(
    sessions, database_url: str, make_settings
) -> None:
    await add_agent(sessions)
    # Rasa does not answer (port 9): the first line queues the chat for a person.
    async with two_gateways(make_settings, database_url, "http://127.0.0.1:9") as (a, b):
        await log_in(b)
        console = await b.ws_connect("/ws/console", headers={"Origin": ORIGIN})
        assert (await console.receive_json())["type"] == "hello"
        assert (await console.receive_json())["type"] == "queue"
        await asyncio.sleep(0.3)  # B's console is counted on A too
        assert a.server.app[FANOUT].remote_agents() == ["dana"]

        chat = await a.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        conversation_id = (await chat.receive_json())["conversation_id"]
        await chat.send_json({"type": "message", "text": "my parcel is late", "client_id": "1"})
        queued = await frames_until(console, lambda f: f["type"] == "queue" and any(
            i["conversation_id"] == conversation_id for i in f["items"]))
        assert queued[-1]["items"][0]["preview"] == "my parcel is late"

        await console.send_json({"type": "claim", "conversation_id": conversation_id})
        joined = await frames_until(chat, line("system", "Dana"))
        assert any(f["type"] == "agent_joined" and f["agent_name"] == "Dana" for f in joined)
        await frames_until(console, lambda f: f["type"] == "conversation")
        await console.send_json({"type": "send", "conversation_id": conversation_id, "text": "Hi, Dana here."})
        assert (await frames_until(chat, line("agent")))[-1]["message"]["text"] == "Hi, Dana here."
        await chat.send_json({"type": "message", "text": "thank you", "client_id": "2"})
        seen = await frames_until(console, line("customer", "thank you"))
        assert seen[-1]["conversation_id"] == conversation_id
        await chat.close()
        await console.close()


async def test_a_button_offered_by_a_turn_on_the_other_gateway_counts(
    sessions, database_url: str, make_settings, rasa: RasaStandIn
) -> None:
    await rasa.start()
    async with two_gateways(make_settings, database_url, rasa.url) as (a, b):
        tab_a = await a.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        hello = await tab_a.receive_json()
        await tab_a.send_json({"type": "message", "text": "hi", "client_id": "1"})
        await frames_until(tab_a, line("bot", "You said hi"))  # A remembers: nothing offered

        tab_b = await b.ws_connect(f"/ws/chat?resume={hello['resume']}", headers={"Origin": ORIGIN})
        assert (await tab_b.receive_json())["conversation_id"] == hello["conversation_id"]
        await tab_b.send_json({"type": "message", "text": "offer", "client_id": "2"})
        offered = (await frames_until(tab_a, line("bot", "You said offer")))[-1]["message"]
        assert offered["buttons"] == [{"title": "Yes, please", "payload": "/affirm"}]

        await tab_a.send_json({"type": "message", "text": "Yes, please", "payload": "/affirm", "client_id": "3"})
        await frames_until(tab_a, line("bot", "You said /affirm"))
        assert [r["message"] for r in rasa.received] == ["hi", "offer", "/affirm"]
        await tab_a.close()
        await tab_b.close()


async def test_a_widget_back_on_the_other_gateway_brings_the_watching_console_up_to_date(
    sessions, database_url: str, make_settings
) -> None:
    await add_agent(sessions)
    async with two_gateways(make_settings, database_url, "http://127.0.0.1:9") as (a, b):
        await log_in(b)
        console = await b.ws_connect("/ws/console", headers={"Origin": ORIGIN})
        chat = await a.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        hello = await chat.receive_json()
        conversation_id = hello["conversation_id"]
        await chat.send_json({"type": "message", "text": "my parcel is late", "client_id": "1"})
        await frames_until(console, lambda f: f["type"] == "queue" and any(
            i["conversation_id"] == conversation_id for i in f["items"]))
        await console.send_json({"type": "claim", "conversation_id": conversation_id})
        await frames_until(console, lambda f: f["type"] == "conversation")

        a.server.app[HUB].attach(None)  # A dies before it tells anyone about the next line
        await chat.send_json({"type": "message", "text": "hello?", "client_id": "2"})
        await frames_until(chat, line("customer", "hello?"))
        await chat.close()
        back = await b.ws_connect(f"/ws/chat?resume={hello['resume']}", headers={"Origin": ORIGIN})
        assert (await back.receive_json())["mode"] == "agent"
        seen = await frames_until(console, lambda f: f["type"] == "conversation")
        assert [m["text"] for m in seen[-1]["conversation"]["messages"] if m["from"] == "customer"] == [
            "my parcel is late", "hello?"]
        assert not any(line("customer", "hello?")(f) for f in seen), "B's console heard of it only now"
        await back.close()
        await console.close()
