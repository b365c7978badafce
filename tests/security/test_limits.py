"""Limits on the public surface (issue item 5): new chats, open sockets and messages per
address, messages per conversation and per Telegram chat. Each on both backends (memory, and
real Redis shared by two gateways), through the real gateway: the one over the limit gets a
polite frame and leaves no row behind."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSCloseCode
from sqlalchemy import func, select

from caredesk.db.models import Conversation, Message
from bot.app_keys import LIMITER
from bot.limits import Limiter, MemoryBackend
from bot.limits_redis import RedisBackend, connect
from bot.peers import forwarded_address, limit_key
from bot.settings import LimitSettings
from tests.bot.conftest import ORIGIN, start_client
from tests.bot.telegram_standin import BotApiStandIn
from tests.bot.test_webchat import frames_until, system_text
from tests.security.conftest import Backend

SECRET = "a-long-secret-token-for-the-webhook"


def texts(domain: dict, name: str) -> set[str]:
    return {variant["text"] for variant in domain["responses"][name]}


@pytest.fixture
async def limiter(backend: Backend) -> AsyncIterator[Limiter]:
    """A limiter on the chosen backend with a clock the test moves."""
    settings = LimitSettings(chats_per_minute=3, sockets=2, address_messages_per_minute=4,
                             chat_messages_per_minute=2, signin_failures_per_address=3)
    client = connect(backend.redis_url) if backend.redis_url else None
    shared = RedisBackend(client, backend.prefix) if client is not None else None
    now = [1_000_000.0]
    made = Limiter(settings, shared, clock=lambda: now[0])
    made.now = now  # type: ignore[attr-defined]
    try:
        yield made
    finally:
        if client is not None:
            await client.aclose()


async def count(sessions, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


# ---- the limiter itself, on each backend ------------------------------------------------------
async def test_a_rate_allows_its_count_then_refuses_and_refills(limiter: Limiter) -> None:
    check = (limiter.new_chats, "198.51.100.7")
    assert [await limiter.allow(check) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await limiter.allow(check)
    assert wait == pytest.approx(20.0)  # 3 a minute: the next one in 20 s
    assert await limiter.allow((limiter.new_chats, "198.51.100.8")) == 0.0, "another address is not affected"
    limiter.now[0] += 20  # type: ignore[attr-defined]
    assert await limiter.allow(check) == 0.0
    assert await limiter.allow(check) > 0


async def test_a_rate_allows_at_most_its_burst_at_once(backend: Backend) -> None:
    """60 new chats a minute, but not 60 in the first second: 10 at once, then one a second."""
    client = connect(backend.redis_url) if backend.redis_url else None
    now = [1_000_000.0]
    limiter = Limiter(LimitSettings(chats_per_minute=60), RedisBackend(client, backend.prefix) if client else None,
                      clock=lambda: now[0])
    try:
        check = (limiter.new_chats, "198.51.100.7")
        assert [await limiter.allow(check) for _ in range(10)] == [0.0] * 10
        assert await limiter.allow(check) == pytest.approx(1.0)
        now[0] += 1
        assert await limiter.allow(check) == 0.0
        assert await limiter.allow(check) > 0
    finally:
        if client is not None:
            await client.aclose()


async def test_a_check_that_reaches_the_count_late_is_judged_at_the_latest_time(backend: Backend) -> None:
    """Two messages a fraction of a millisecond apart at a high rate, whose checks reach the
    count in the other order (one waited for a connection, or its gateway's clock is a little
    behind): both allowed, as in order. Redis once refused the late one, and at saturation half
    of a bench's turns came back "too many messages"."""
    client = connect(backend.redis_url) if backend.redis_url else None
    now = [1_000_000.0]
    limiter = Limiter(LimitSettings(address_messages_per_minute=1_000_000),
                      RedisBackend(client, backend.prefix) if client else None, clock=lambda: now[0])
    try:
        check = (limiter.address_messages, "198.51.100.7")  # 30 at once: a tolerance of 1.8 ms
        started = now[0]
        now[0] = started + 0.010
        assert await limiter.allow(check) == 0.0
        now[0] = started  # the check read the clock 10 ms before the other, and arrives after it
        assert await limiter.allow(check) == 0.0
        now[0] = started + 0.010
        assert [await limiter.allow(check) for _ in range(28)] == [0.0] * 28
        assert await limiter.allow(check) > 0, "still 30 at once at most"
    finally:
        if client is not None:
            await client.aclose()


async def test_a_burst_of_checks_waits_for_a_redis_connection_instead_of_failing(backend: Backend, caplog) -> None:  # type: ignore[no-untyped-def]
    """More checks in flight than the pool has connections: each waits its turn, none falls
    back to counting in memory (which would stop the count being shared)."""
    client = connect(backend.redis_url) if backend.redis_url else None
    limiter = Limiter(LimitSettings(chat_messages_per_minute=1_000_000),
                      RedisBackend(client, backend.prefix) if client else None)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.limits"):
            waits = await asyncio.gather(*(limiter.allow((limiter.chat_messages, f"c{i}")) for i in range(300)))
        assert waits == [0.0] * 300
        assert "Redis failed" not in caplog.text
    finally:
        if client is not None:
            await client.aclose()


async def test_a_refused_check_costs_nothing_on_the_other_limit(limiter: Limiter) -> None:
    """Per address and per conversation are taken together or not at all."""
    address = (limiter.address_messages, "198.51.100.7")
    for _ in range(2):
        assert await limiter.allow(address, (limiter.chat_messages, "c_one")) == 0.0
    assert await limiter.allow(address, (limiter.chat_messages, "c_one")) > 0  # the conversation's 3rd
    # The refused message did not use the address's quota: 2 more fit (4 a minute).
    assert await limiter.allow(address, (limiter.chat_messages, "c_two")) == 0.0
    assert await limiter.allow(address, (limiter.chat_messages, "c_two")) == 0.0
    assert await limiter.allow(address, (limiter.chat_messages, "c_three")) > 0


async def test_a_refusal_is_remembered_until_its_wait_is_over_and_never_longer(limiter: Limiter) -> None:
    """A flood's repeats are answered from memory; the memory never outlasts the real wait."""
    check = (limiter.address_messages, "198.51.100.9")
    for _ in range(4):
        assert await limiter.allow(check) == 0
    wait = await limiter.allow(check)
    assert wait > 0 and limiter.known_wait(check) == pytest.approx(wait)
    assert limiter.known_wait((limiter.address_messages, "198.51.100.10")) == 0, "another address is not refused"
    limiter.now[0] += wait / 2  # type: ignore[attr-defined]
    assert await limiter.allow(check) == pytest.approx(wait / 2), "a repeat is told the rest of the wait"
    limiter.now[0] += wait / 2 + 0.001  # type: ignore[attr-defined]
    assert limiter.known_wait(check) == 0
    assert await limiter.allow(check) == 0, "once the wait is over the backend decides again"


async def test_failures_pause_until_the_oldest_is_old_enough(limiter: Limiter) -> None:
    check = (limiter.signin_address, "198.51.100.7")
    for minute in range(3):
        limiter.now[0] = 1_000_000.0 + 60 * minute  # type: ignore[attr-defined]
        assert await limiter.failure_wait(check) == 0.0
        await limiter.failed(check)
    assert await limiter.failure_wait(check) == pytest.approx(13 * 60)
    limiter.now[0] = 1_000_000.0 + 15 * 60  # type: ignore[attr-defined]
    assert await limiter.failure_wait(check) == 0.0
    await limiter.failed(check)
    assert await limiter.failure_wait(check) > 0, "the 2nd and 3rd are still within 15 minutes"
    await limiter.forget(*check)
    assert await limiter.failure_wait(check) == 0.0


async def test_slots_hold_a_place_until_closed(limiter: Limiter) -> None:
    first = await limiter.open_slot(limiter.sockets, "198.51.100.7")
    second = await limiter.open_slot(limiter.sockets, "198.51.100.7")
    assert first and second and await limiter.open_slot(limiter.sockets, "198.51.100.7") is None
    await limiter.close_slot(first)
    assert await limiter.open_slot(limiter.sockets, "198.51.100.7") is not None


async def test_a_crashed_gateways_sockets_stop_counting_and_a_live_one_renews(backend: Backend) -> None:
    if not backend.redis_url:
        pytest.skip("memory slots die with their process")
    now = [1_000_000.0]
    client = connect(backend.redis_url)
    try:
        settings = LimitSettings(sockets=1)
        crashed = Limiter(settings, RedisBackend(client, backend.prefix), clock=lambda: now[0])
        alive = Limiter(settings, RedisBackend(client, backend.prefix), clock=lambda: now[0])
        assert await crashed.open_slot(crashed.sockets, "a") is not None
        assert await alive.open_slot(alive.sockets, "a") is None
        now[0] += 61  # the crashed gateway never renewed its lease
        held = await alive.open_slot(alive.sockets, "a")
        assert held is not None
        for _ in range(5):  # the live one renews every 20 s: its socket keeps counting
            now[0] += 20
            await alive.renew()
        assert await crashed.open_slot(crashed.sockets, "a") is None
        await alive.close_slot(held)
        assert await crashed.open_slot(crashed.sockets, "a") is not None
    finally:
        await client.aclose()


async def test_when_redis_fails_the_check_is_made_in_memory_and_logged_once(caplog) -> None:  # type: ignore[no-untyped-def]
    client = connect("redis://127.0.0.1:9/0")  # nothing listens there
    try:
        limiter = Limiter(LimitSettings(chat_messages_per_minute=2), RedisBackend(client, "x:"))
        with caplog.at_level(logging.WARNING, logger="bot.limits"):
            results = [await limiter.allow((limiter.chat_messages, "c")) for _ in range(3)]
            assert await limiter.open_slot(limiter.sockets, "a") is not None
        assert results[:2] == [0.0, 0.0] and results[2] > 0, "still limited, in memory"
        assert len([r for r in caplog.records if "Redis failed" in r.message]) == 1
    finally:
        await client.aclose()


def test_ipv6_addresses_count_by_their_64_so_one_line_cannot_rotate_past_a_limit() -> None:
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("::ffff:198.51.100.7") == limit_key("198.51.100.7") == "198.51.100.7"
    assert limit_key("not an address") == "not an address"


def test_forwarded_for_is_believed_only_as_far_as_our_own_proxies() -> None:
    header = "203.0.113.9, 198.51.100.1, 10.0.0.2"
    assert forwarded_address(header, 0) is None
    assert forwarded_address(header, 1) == "10.0.0.2"
    assert forwarded_address(header, 2) == "198.51.100.1"
    assert forwarded_address("10.0.0.2", 2) is None, "fewer hops than proxies: not trusted"


# ---- through the gateway -------------------------------------------------------------------
async def refused_socket(client, path: str = "/ws/chat", headers: dict | None = None) -> dict:  # type: ignore[no-untyped-def]
    ws = await client.ws_connect(path, headers={"Origin": ORIGIN, **(headers or {})})
    frame = await ws.receive_json()
    closing = await ws.receive()
    assert closing.type.name in ("CLOSE", "CLOSED") and ws.close_code == WSCloseCode.TRY_AGAIN_LATER
    return frame


async def test_too_many_open_sockets_from_one_address_are_refused_politely(
    limited_gateway, sessions, domain
) -> None:
    gateway = await limited_gateway(sockets=2)
    open_ones = []
    for _ in range(2):
        ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        assert (await ws.receive_json())["type"] == "hello"
        open_ones.append(ws)
    refused = await refused_socket(gateway)
    assert refused["type"] == "error" and refused["code"] == "too_many_chats"
    assert refused["text"] in texts(domain, "utter_gateway_too_many_chats")
    assert await count(sessions, Conversation) == 2, "the refused socket made no conversation"
    await open_ones[0].close()
    await asyncio.sleep(0.1)  # the server side notices the close
    again = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    assert (await again.receive_json())["type"] == "hello", "a closed socket frees its place"
    for ws in (open_ones[1], again):
        await ws.close()


async def test_too_many_new_chats_from_one_address_are_refused_but_a_resume_is_not(
    limited_gateway, sessions
) -> None:
    gateway = await limited_gateway(chats_per_minute=2)
    ids, tokens = [], []
    for _ in range(2):
        ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        hello = await ws.receive_json()
        ids.append(hello["conversation_id"])
        tokens.append(hello["resume"])
        await ws.close()
    assert (await refused_socket(gateway))["code"] == "too_many_chats"
    assert await count(sessions, Conversation) == 2
    resumed = await gateway.ws_connect(f"/ws/chat?resume={tokens[0]}", headers={"Origin": ORIGIN})
    hello = await resumed.receive_json()
    assert hello["type"] == "hello" and hello["conversation_id"] == ids[0], "a reload keeps its chat"
    await resumed.close()


async def test_reconnects_count_too_so_resuming_chats_cannot_flood(limited_gateway, sessions) -> None:
    """Resuming a chat reads its whole transcript: sockets opened per address count, new
    chats and reloads alike."""
    gateway = await limited_gateway(connects_per_minute=2)
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    first = await ws.receive_json()
    conversation_id = first["conversation_id"]
    await ws.close()
    again = await gateway.ws_connect(f"/ws/chat?resume={first['resume']}", headers={"Origin": ORIGIN})
    assert (await again.receive_json())["conversation_id"] == conversation_id
    await again.close()
    refused = await refused_socket(gateway, f"/ws/chat?resume={first['resume']}")
    assert refused["code"] == "too_many_chats"
    assert await count(sessions, Conversation) == 1


async def test_a_flood_of_sockets_after_the_polite_refusal_gets_a_bare_429(limited_gateway, sessions) -> None:
    """The first refused socket hears why; its repeats inside the wait cost the gateway no
    upgrade, no backend call and no row."""
    gateway = await limited_gateway(connects_per_minute=1)
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    assert (await ws.receive_json())["type"] == "hello"
    await ws.close()
    assert (await refused_socket(gateway))["code"] == "too_many_chats"
    for _ in range(20):
        response = await gateway.get("/ws/chat", headers={
            "Origin": ORIGIN, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert await count(sessions, Conversation) == 1


async def test_a_message_over_the_conversations_limit_is_refused_and_not_stored(
    limited_gateway, sessions, domain
) -> None:
    gateway = await limited_gateway(chat_messages_per_minute=2)
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    conversation_id = (await ws.receive_json())["conversation_id"]
    await ws.send_json({"type": "message", "text": "my parcel is late", "client_id": "m1"})
    await frames_until(ws, lambda f: "ticket" in system_text(f))
    await ws.send_json({"type": "message", "text": "hello?", "client_id": "m2"})
    await frames_until(ws, lambda f: f.get("message", {}).get("client_id") == "m2")
    await ws.send_json({"type": "message", "text": "HELLO??", "client_id": "m3"})
    refused = await ws.receive_json()
    assert refused["type"] == "error" and refused["code"] == "too_many_messages"
    assert refused["client_id"] == "m3" and refused["retry_after"] >= 1
    assert refused["text"] in texts(domain, "utter_gateway_too_many_messages")
    await ws.send_str("probe")  # frames are handled in order: its answer comes after m3's
    assert (await ws.receive_json())["type"] == "error"
    await ws.close()
    customer_lines = await count(sessions, Message, Message.conversation_id == conversation_id,
                                 Message.sender == "customer")
    assert customer_lines == 2


async def test_messages_per_address_count_across_conversations(limited_gateway, sessions) -> None:
    gateway = await limited_gateway(address_messages_per_minute=3)
    sockets = []
    for _ in range(2):
        ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        await ws.receive_json()
        sockets.append(ws)
    # Rasa is down, so the first message of each chat queues it; later ones are only stored.
    for n, ws in enumerate([sockets[0], sockets[1], sockets[0]]):
        await ws.send_json({"type": "message", "text": f"message {n}", "client_id": f"a{n}"})
        await frames_until(ws, lambda f, n=n: f.get("message", {}).get("client_id") == f"a{n}")
    await sockets[1].send_json({"type": "message", "text": "one too many", "client_id": "a3"})
    refused = await frames_until(sockets[1], lambda f: f["type"] == "error")
    assert refused[-1]["client_id"] == "a3"
    for ws in sockets:
        await ws.close()
    assert await count(sessions, Message, Message.sender == "customer") == 3


async def test_a_second_gateway_on_the_same_redis_sees_the_first_ones_counts(
    limited_gateway, sessions, backend: Backend
) -> None:
    if not backend.redis_url:
        pytest.skip("memory counts belong to one gateway")
    first = await limited_gateway(sockets=2, chats_per_minute=3)
    second = await limited_gateway(sockets=2, chats_per_minute=3)
    a = await first.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    b = await second.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    assert (await a.receive_json())["type"] == (await b.receive_json())["type"] == "hello"
    assert (await refused_socket(second))["code"] == "too_many_chats", "one socket on each: both places taken"
    await a.close()
    await asyncio.sleep(0.1)
    c = await second.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    assert (await c.receive_json())["type"] == "hello"
    await c.close()
    await b.close()
    await asyncio.sleep(0.1)
    # Three new chats a minute in all, whichever gateway made them.
    assert (await refused_socket(first))["code"] == "too_many_chats"
    assert await count(sessions, Conversation) == 3


async def test_a_spoofed_forwarded_for_does_not_escape_the_limit_unless_a_proxy_is_trusted(
    limited_gateway, sessions
) -> None:
    direct = await limited_gateway(chats_per_minute=1)
    ws = await direct.ws_connect("/ws/chat", headers={"Origin": ORIGIN, "X-Forwarded-For": "203.0.113.1"})
    await ws.receive_json()
    await ws.close()
    assert (await refused_socket(direct, headers={"X-Forwarded-For": "203.0.113.2"}))["code"] == "too_many_chats"
    proxied = await limited_gateway(chats_per_minute=1, trusted_proxies=1)
    for address in ("203.0.113.1", "203.0.113.2"):
        ws = await proxied.ws_connect("/ws/chat", headers={"Origin": ORIGIN, "X-Forwarded-For": address})
        assert (await ws.receive_json())["type"] == "hello", "each client behind our proxy has its own count"
        await ws.close()
    refused = await refused_socket(proxied, headers={"X-Forwarded-For": "203.0.113.1"})
    assert refused["code"] == "too_many_chats"


async def test_a_telegram_chat_over_its_limit_is_not_stored_and_told_once(
    sessions, database_url, make_settings, domain, backend: Backend
) -> None:
    from aiohttp.test_utils import TestServer

    from bot.channels.telegram import SECRET_HEADER

    api = BotApiStandIn()
    server = TestServer(api.app)
    await server.start_server()
    settings = dataclasses.replace(
        make_settings(database_url), telegram_token="123:TEST", telegram_api_url=str(server.make_url("")).rstrip("/"),
        telegram_webhook_url="https://support.example.com/telegram/webhook", telegram_secret=SECRET,
        limits=LimitSettings(telegram_messages_per_minute=2), redis_url=backend.redis_url,
        redis_prefix=backend.prefix or "unused:",
    )
    gateway = await start_client(settings)
    chat = 990001
    try:
        for n in range(6):
            update = {"update_id": 100 + n, "message": {
                "message_id": n + 1, "date": 0, "text": f"hello {n}", "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": "Maria"}}}
            response = await gateway.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
            assert response.status == 200
        notice = texts(domain, "utter_gateway_too_many_messages")
        await api.wait_for(lambda p: p["text"] in notice)
        await asyncio.sleep(0.5)  # the last updates are handled too
        told = [p for p in api.sent(chat) if p["text"] in notice]
        assert len(told) == 1, "told once a minute, not once per refused message"
        assert await count(sessions, Message, Message.conversation_id == f"tg_{chat}",
                           Message.sender == "customer") == 2
    finally:
        await gateway.close()
        await server.close()


async def test_the_gateway_counts_in_redis_when_configured(limited_gateway, backend: Backend) -> None:
    gateway = await limited_gateway(sockets=1)
    shared = gateway.server.app[LIMITER].shared
    assert (shared is not None) == bool(backend.redis_url)
    assert isinstance(gateway.server.app[LIMITER].memory, MemoryBackend)


async def test_with_redis_down_customers_are_served_and_still_limited(sessions, database_url, make_settings) -> None:
    settings = dataclasses.replace(make_settings(database_url), redis_url="redis://127.0.0.1:9/0",
                                   limits=LimitSettings(chat_messages_per_minute=1))
    gateway = await start_client(settings)
    try:
        ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        hello = await ws.receive_json()
        assert hello["type"] == "hello"
        await ws.send_json({"type": "message", "text": "is anyone there", "client_id": "r1"})
        await frames_until(ws, lambda f: "ticket" in system_text(f))
        await ws.send_json({"type": "message", "text": "hello?", "client_id": "r2"})
        refused = await frames_until(ws, lambda f: f["type"] == "error")
        assert refused[-1]["client_id"] == "r2", "counted in memory meanwhile"
        await ws.close()
    finally:
        await gateway.close()
    assert await count(sessions, Message, Message.conversation_id == hello["conversation_id"],
                       Message.sender == "customer") == 1


def test_every_documented_limit_setting_is_read() -> None:
    """Each GATEWAY_LIMIT_*/GATEWAY_SIGNIN_* line of .env.example reaches the settings."""
    import re

    from caredesk.settings import PROJECT_ROOT
    from bot.settings import Settings

    names = re.findall(r"^# (GATEWAY_(?:LIMIT|SIGNIN)_[A-Z_]+)=", (PROJECT_ROOT / ".env.example").read_text(), re.M)
    assert len(names) == len(dataclasses.fields(LimitSettings))
    default = Settings.from_env({}).limits
    for name in names:
        changed = Settings.from_env({name: "7"}).limits
        assert changed != default, f"{name} is documented but not read"
    parsed = Settings.from_env({"GATEWAY_TRUSTED_PROXIES": "2", "GATEWAY_REDIS_URL": "redis://h:1/4"})
    assert parsed.trusted_proxies == 2 and parsed.redis_url == "redis://h:1/4" and "redis://" not in repr(parsed)
    with pytest.raises(ValueError):
        Settings.from_env({"GATEWAY_LIMIT_SOCKETS": "-1"})
