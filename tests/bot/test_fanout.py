"""Several gateways' Hubs on one real Redis (bot/fanout.py): each frame reaches every gateway's
sockets once, a gateway never delivers its own frame twice, agents online count across
gateways, and without Redis local delivery goes on."""
from __future__ import annotations

import asyncio
import json
import time

from bot import fanout
from bot.fanout import Fanout
from bot.hub import AgentConnection, Hub
from tests.bot.two_hubs import SocketPairs, frames_until, running_hubs, scratch_prefix, until


async def test_a_frame_reaches_each_gateway_once_and_its_own_never_twice() -> None:
    async with scratch_prefix() as prefix, running_hubs(2, prefix) as (a, b), SocketPairs() as pairs:
        on_a, tab_a = await pairs.pair()
        on_b, tab_b = await pairs.pair()
        a.hub.add_customer("c_x", on_a)  # one customer, a tab on each gateway
        b.hub.add_customer("c_x", on_b)

        await a.hub.to_customer("c_x", {"n": 1})
        assert await frames_until(tab_b, {"n": 1}) == [{"n": 1}]
        # Published after B received frame 1: a second copy of 1 on A would come before it.
        await b.hub.to_customer("c_x", {"n": 2})
        assert await frames_until(tab_a, {"n": 2}) == [{"n": 1}, {"n": 2}]
        await a.hub.to_customer("c_x", {"n": 3})
        assert await frames_until(tab_b, {"n": 3}) == [{"n": 2}, {"n": 3}]


async def test_watchers_agents_and_sign_outs_cross_gateways() -> None:
    async with scratch_prefix() as prefix, running_hubs(2, prefix) as (a, b), SocketPairs() as pairs:
        socket, console = await pairs.pair()
        other_socket, other_console = await pairs.pair()
        b.hub.add_agent(AgentConnection(socket=socket, username="dana", name="Dana", watching={"c_x"},
                                        session_key="k1"))
        b.hub.add_agent(AgentConnection(socket=other_socket, username="eli", name="Eli", session_key="k2"))

        await a.hub.to_watchers("c_y", {"type": "message", "conversation_id": "c_y"})
        await a.hub.to_watchers("c_x", {"type": "message", "conversation_id": "c_x"})
        assert await frames_until(console, {"type": "message", "conversation_id": "c_x"}) == [
            {"type": "message", "conversation_id": "c_x"}], "only the console watching c_x gets its frames"
        await a.hub.to_agents({"type": "queue", "items": []})
        assert await frames_until(console, {"type": "queue", "items": []}) == [{"type": "queue", "items": []}]
        assert await frames_until(other_console, {"type": "queue", "items": []}) == [{"type": "queue", "items": []}]

        await a.hub.close_agents(session_keys={"k1"})  # Dana signed out through gateway A
        closing = await console.receive(timeout=5)
        assert closing.type.name == "CLOSE" and console.close_code == 4401
        await until(lambda: b.hub.local_agents() == {"eli"})


async def test_agents_online_counts_every_gateway_at_once() -> None:
    """Presence is refreshed every 5 s here: a count within 1 s comes from the gateway telling."""
    async with scratch_prefix() as prefix, running_hubs(2, prefix) as (a, b), SocketPairs() as pairs:
        dana_a = AgentConnection(socket=(await pairs.pair())[0], username="dana", name="Dana")
        dana_b = AgentConnection(socket=(await pairs.pair())[0], username="dana", name="Dana")
        eli_b = AgentConnection(socket=(await pairs.pair())[0], username="eli", name="Eli")
        await asyncio.sleep(0.2)  # past both gateways' first presence write
        a.hub.add_agent(dana_a)
        await until(lambda: b.hub.agents_online() == 1, timeout=1)
        b.hub.add_agent(dana_b)  # Dana in two consoles, one per gateway: one agent
        b.hub.add_agent(eli_b)
        await until(lambda: a.hub.agents_online() == 2, timeout=1)
        await asyncio.sleep(0.2)
        assert b.hub.agents_online() == 2
        b.hub.remove_agent(eli_b)
        await until(lambda: a.hub.agents_online() == 1, timeout=1)


async def test_a_dead_gateways_agents_stop_counting_at_their_deadline() -> None:
    async with scratch_prefix() as prefix, running_hubs(2, prefix, presence_seconds=1.5) as (a, b), \
            SocketPairs() as pairs:
        b.hub.add_agent(AgentConnection(socket=(await pairs.pair())[0], username="eli", name="Eli"))
        await until(lambda: a.hub.agents_online() == 1, timeout=1)
        b.task.cancel()  # gateway B stops dead: nothing tells the others
        started = time.monotonic()
        await until(lambda: a.hub.agents_online() == 0, timeout=4)
        assert time.monotonic() - started >= 0.5, "B's agents counted until their deadline"


async def test_without_redis_local_sockets_are_still_served_at_once(caplog) -> None:  # type: ignore[no-untyped-def]
    client, subscriber = fanout.connect("redis://127.0.0.1:9/0")  # nothing listens there
    hub, shared = Hub(), Fanout(client, subscriber, "nowhere:")
    hub.attach(shared)
    task = asyncio.create_task(shared.run(hub.receive, hub.local_agents))
    try:
        async with SocketPairs() as pairs:
            socket, tab = await pairs.pair()
            hub.add_customer("c_x", socket)
            for n in range(3):
                started = time.monotonic()
                await hub.to_customer("c_x", {"n": n})
                assert time.monotonic() - started < 0.1, "Redis is not waited for"
                assert await tab.receive_json(timeout=2) == {"n": n}
            await asyncio.sleep(1.2)  # the subscription fails and is retried with back-off
            assert not task.done()
            assert any("subscription failed" in r.getMessage() for r in caplog.records)
            assert hub.agents_online() == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
        await subscriber.aclose()


async def test_a_channel_such_as_telegram_is_delivered_once_by_the_gateway_the_frame_started_on() -> None:
    async with scratch_prefix() as prefix, running_hubs(2, prefix) as (a, b), SocketPairs() as pairs:
        sent: list[tuple[str, str, dict[str, int]]] = []
        for name, gateway in (("a", a), ("b", b)):
            async def deliver(conversation_id: str, frame: dict, name: str = name) -> None:  # type: ignore[type-arg]
                sent.append((name, conversation_id, frame))
            gateway.hub.register_channel("tg_", deliver)
        on_b, watcher = await pairs.pair()
        b.hub.add_agent(AgentConnection(socket=on_b, username="dana", name="Dana", watching={"tg_1"}))
        await a.hub.to_customer("tg_1", {"n": 1})
        await a.hub.to_watchers("tg_1", {"n": 2})
        assert await frames_until(watcher, {"n": 2}) == [{"n": 2}]  # B has had A's frames by now
        assert sent == [("a", "tg_1", {"n": 1})]


async def test_after_the_subscription_breaks_it_comes_back_and_widgets_read_their_transcript_again() -> None:
    async with scratch_prefix() as prefix, SocketPairs() as pairs:
        name = f"test-gateway-{prefix.split(':')[1]}"
        client, subscriber = fanout.connect("redis://127.0.0.1:6379/13", name)
        hub, shared = Hub(), Fanout(client, subscriber, prefix)
        resynced = asyncio.Event()

        async def resync() -> None:
            resynced.set()
            await hub.reconnect_customers()

        shared.on_resync = resync
        hub.attach(shared)
        task = asyncio.create_task(shared.run(hub.receive, hub.local_agents))
        try:
            await asyncio.wait_for(shared.subscribed.wait(), 5)
            socket, tab = await pairs.pair()
            hub.add_customer("c_x", socket)
            listed = (await client.client_list())
            [mine] = [c["id"] for c in listed if c.get("name") == f"{name}-subscriber"]
            await client.client_kill_filter(_id=mine)
            await asyncio.wait_for(resynced.wait(), 5)
            closing = await tab.receive(timeout=5)
            assert closing.type.name == "CLOSE" and tab.close_code == 1012, "the widget reconnects and reads again"
            other, other_tab = await pairs.pair()
            hub.add_customer("c_x", other)
            await client.publish(f"{prefix}frames", json.dumps(
                {"from": "other", "kind": "customer", "conversation_id": "c_x", "frame": {"n": 1}}))
            assert await other_tab.receive_json(timeout=5) == {"n": 1}, "subscribed again"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.aclose()
            await subscriber.aclose()
