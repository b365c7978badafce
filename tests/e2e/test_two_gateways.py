"""Two gateway processes on one PostgreSQL database and one Redis (issue 18, item 3): a
customer on gateway A and an agent on gateway B see each other live; the sign-in pause counts
on both; A is killed (SIGKILL) mid-conversation and the customer's widget reconnects to B with
its resume token: the whole transcript, nothing lost, and the agent's next reply reaches them.
A turn that was with the bot when A died is answered by B."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from bench.stack import ORIGIN, answers_tcp, migrate, scratch_postgres
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import async_database_url
from bot.console.auth import create_agent
from tests.e2e.netns import forwarded, hosts, namespaces_here
from tests.bot.test_webchat import line
from tests.e2e.gateways import ScriptedRasa, gateway_env, gateways, sign_in, until_frame, until_healthy
from tests.bot.two_hubs import REDIS_URL, scratch_prefix

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"


@pytest.fixture
def app_database() -> Iterator[str]:
    """A scratch PostgreSQL database, migrated, with the demo shop."""
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgres") or not answers_tcp("127.0.0.1", 6379):
        pytest.skip("several gateways need PostgreSQL (TEST_DATABASE_URL) and Redis")
    with scratch_postgres(server, "gateways") as url:
        migrate({**os.environ, "DATABASE_URL": url})
        yield url


async def add_agents(url: str, *usernames: str) -> None:
    engine = make_engine(async_database_url(url))
    async with make_sessions(engine).begin() as session:
        for username in usernames:
            await create_agent(session, username, username.title(), PASSWORD, "agent")
    await engine.dispose()


async def test_customer_on_a_agent_on_b_then_a_is_killed(app_database: str, tmp_path: Path) -> None:
    await add_agents(app_database, "dana", "eli")
    rasa = await ScriptedRasa().start()
    try:
        async with scratch_prefix(REDIS_URL) as prefix:
            env = gateway_env(app_database, rasa.url, REDIS_URL, prefix,
                              TRACKER_STORE_URL=f"sqlite:///{tmp_path / 'tracker.db'}")
            with gateways(["a", "b"], env, tmp_path) as running:
                a, b = running["a"], running["b"]
                for gateway in (a, b):
                    await until_healthy(gateway.url, gateway.process, gateway.log)
                await _story(a.url, b.url, a.kill, rasa)
                assert b.process.poll() is None, "B kept running"
    finally:
        await rasa.close()


async def _story(a: str, b: str, kill_a, rasa: ScriptedRasa) -> None:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession() as customer, aiohttp.ClientSession() as guesser, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent:
        # The sign-in pause holds across gateways: five wrong passwords for eli on A...
        for _ in range(5):
            assert await sign_in(guesser, a, "eli", "wrong password") == "/console/login?error=1"
        # ...and eli waits on B, even with the right one.
        assert (await sign_in(guesser, b, "eli", PASSWORD)).startswith("/console/login?error=wait")

        assert await sign_in(agent, b, "dana", PASSWORD) == "/console"
        console = await agent.ws_connect(f"{b.replace('http', 'ws')}/ws/console", headers={"Origin": ORIGIN})
        assert (await console.receive_json())["type"] == "hello"
        assert (await console.receive_json())["type"] == "queue"

        chat = await customer.ws_connect(f"{a.replace('http', 'ws')}/ws/chat", headers={"Origin": ORIGIN})
        hello = await chat.receive_json()
        conversation_id, resume = hello["conversation_id"], hello["resume"]
        await chat.send_json({"type": "message", "text": "hi", "client_id": "c1"})
        await until_frame(chat, line("bot", "You said hi"))
        await chat.send_json({"type": "message", "text": "person please", "client_id": "c2"})
        await until_frame(console, lambda f: f["type"] == "queue" and any(
            i["conversation_id"] == conversation_id for i in f["items"]))

        await console.send_json({"type": "claim", "conversation_id": conversation_id})
        joined = await until_frame(chat, line("system", "Dana"))
        assert any(f["type"] == "agent_joined" for f in joined), "the claim on B reached the customer on A"
        await until_frame(console, lambda f: f["type"] == "conversation")
        await console.send_json({"type": "send", "conversation_id": conversation_id, "text": "Dana here, hello!"})
        await until_frame(chat, line("agent", "Dana here, hello!"))
        await chat.send_json({"type": "message", "text": "my parcel is late", "client_id": "c3"})
        await until_frame(console, line("customer", "my parcel is late"))

        # A second customer on A has a line with the bot when A dies.
        other = await customer.ws_connect(f"{a.replace('http', 'ws')}/ws/chat", headers={"Origin": ORIGIN})
        other_hello = await other.receive_json()
        await other.send_json({"type": "message", "text": "hold me", "client_id": "h1"})
        await until_frame(other, line("customer", "hold me"))
        await chat.send_json({"type": "message", "text": "are you still there?", "client_id": "c4"})
        await until_frame(chat, line("customer", "are you still there?"))  # stored: echoed
        kill_a()

        # The widget reconnects, to B this time, with its resume token.
        chat = await customer.ws_connect(f"{b.replace('http', 'ws')}/ws/chat?resume={resume}",
                                         headers={"Origin": ORIGIN})
        back = await chat.receive_json()
        assert back["conversation_id"] == conversation_id and back["mode"] == "agent"
        said = [(m["from"], m["text"]) for m in back["history"] if m["from"] in ("customer", "agent")]
        assert said == [("customer", "hi"), ("customer", "person please"), ("agent", "Dana here, hello!"),
                        ("customer", "my parcel is late"), ("customer", "are you still there?")]
        # B's console sees the last line live, or, when A died before telling the others, in
        # the conversation it reads again as the widget comes back.
        await until_frame(console, lambda f: line("customer", "are you still there?")(f) or (
            f["type"] == "conversation" and "are you still there?" in [m["text"] for m in f["conversation"]["messages"]]))
        await console.send_json({"type": "send", "conversation_id": conversation_id, "text": "Yes, still here."})
        await until_frame(chat, line("agent", "Yes, still here."))

        other = await customer.ws_connect(f"{b.replace('http', 'ws')}/ws/chat?resume={other_hello['resume']}",
                                          headers={"Origin": ORIGIN})
        history = (await other.receive_json())["history"]
        if not any(m["text"] == "You said hold me" for m in history):  # B's redriver answers it soon
            await until_frame(other, line("bot", "You said hold me"), seconds=20)
        await chat.close()
        await other.close()
        await console.close()


async def test_the_same_with_each_gateway_on_its_own_host(app_database: str, tmp_path: Path) -> None:
    """As above, with A and B in network namespaces of their own ("hosts" joined to this one by
    veth pairs): they reach PostgreSQL, Redis and Rasa over those links, and each other only
    through Redis."""
    if not namespaces_here():
        pytest.skip("needs root and `ip netns`")
    await add_agents(app_database, "dana", "eli")
    rasa = await ScriptedRasa().start()
    database = urlsplit(app_database)
    try:
        with hosts(["a", "b"]) as made:
            sides = [host.gateway for host in made.values()]
            async with scratch_prefix(REDIS_URL) as prefix, forwarded(database.port or 5432, sides) as pg, \
                    forwarded(6379, sides) as redis, forwarded(rasa.port, sides) as engine:
                def env_for(name: str) -> dict[str, str]:
                    here = made[name].gateway
                    return {"DATABASE_URL": urlunsplit(database._replace(netloc=f"postgres@{here}:{pg}")),
                            "GATEWAY_REDIS_URL": f"redis://{here}:{redis}/13", "RASA_URL": f"http://{here}:{engine}"}

                env = gateway_env(app_database, rasa.url, REDIS_URL, prefix,
                                  TRACKER_STORE_URL=f"sqlite:///{tmp_path / 'tracker.db'}")
                with gateways(["a", "b"], env, tmp_path, address=lambda name: made[name].address,
                              wrap=lambda name: made[name].wrap(), env_for=env_for) as running:
                    a, b = running["a"], running["b"]
                    for gateway in (a, b):
                        await until_healthy(gateway.url, gateway.process, gateway.log)
                    await _story(a.url, b.url, a.kill, rasa)
                    assert await b.stop() == 0, "B stops cleanly (its links are served by this event loop)"
    finally:
        await rasa.close()
