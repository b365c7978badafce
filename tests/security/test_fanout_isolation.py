"""What arrives on the gateways' Redis channel is delivered to exactly the sockets it names: a
frame for conversation X never reaches a socket of conversation Y (nor a console watching Y),
whatever the envelope looks like, and a malformed envelope stops nothing. The sign-in pause
across two gateway processes is checked in tests/e2e/test_two_gateways.py (and across two
in-process gateways in test_sign_in.py)."""
from __future__ import annotations

import json

from bot import fanout
from bot.hub import AgentConnection
from tests.bot.two_hubs import SocketPairs, frames_until, running_hubs, scratch_prefix


async def test_a_frame_for_one_conversation_never_reaches_another() -> None:
    async with scratch_prefix() as prefix, running_hubs(1, prefix) as (gateway,), SocketPairs() as pairs:
        on_x, x = await pairs.pair()
        on_y, y = await pairs.pair()
        on_console, console = await pairs.pair()
        gateway.hub.add_customer("c_x", on_x)
        gateway.hub.add_customer("c_y", on_y)
        gateway.hub.add_agent(AgentConnection(socket=on_console, username="dana", name="Dana", watching={"c_y"}))
        publisher, subscriber = fanout.connect("redis://127.0.0.1:6379/13")
        try:
            async def publish(envelope: object, channel: str = f"{prefix}frames") -> None:
                data = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
                await publisher.publish(channel, data)

            secret = {"type": "message", "message": {"from": "agent", "text": "for X only"}}
            for attempt in (
                {"from": "other", "kind": "customer", "conversation_id": "c_x", "frame": secret},
                {"from": "other", "kind": "watchers", "conversation_id": "c_x", "frame": secret},
                {"from": "other", "kind": "customer", "conversation_id": ["c_x", "c_y"], "frame": secret},
                {"from": "other", "kind": "customer", "conversation_id": "c_", "frame": secret},
                {"from": "other", "kind": "customer", "conversation_id": "c_%", "frame": secret},
                {"from": "other", "kind": "customer", "conversation_id": "C_Y ", "frame": secret},
                {"from": "other", "kind": "customer", "frame": secret},
                {"from": "other", "kind": "customer", "conversation_id": "c_y", "frame": "not a frame"},
                {"from": "other", "kind": "close_agents", "username": "nobody", "code": "not a number"},
                ["not", "an", "envelope"],
                b"\xff\xfe not json",
            ):
                await publish(attempt)
            # Another deployment's channel on the same Redis: not ours.
            await publish({"from": "other", "kind": "customer", "conversation_id": "c_y", "frame": secret},
                          channel="someone-else:frames")
            done = {"type": "done"}
            await publish({"from": "other", "kind": "customer", "conversation_id": "c_y", "frame": done})
            await publish({"from": "other", "kind": "watchers", "conversation_id": "c_y", "frame": done})
            await publish({"from": "other", "kind": "customer", "conversation_id": "c_x", "frame": done})

            assert await frames_until(y, done) == [done], "Y saw nothing before its own frame"
            assert await frames_until(console, done) == [done], "a console watching Y saw nothing of X"
            assert await frames_until(x, done) == [secret, done]
            assert not gateway.task.done(), "the malformed envelopes stopped nothing"
        finally:
            await publisher.aclose()
            await subscriber.aclose()
