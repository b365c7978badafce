"""Issue 12 (part) and 13: Content-Security-Policy without inline code, no server version
banner, private SQLite files, no usernames of failed sign-ins at INFO, NUL bytes in URLs and
sign-in answered 400 or as a failed sign-in, lone surrogates in a chat answered politely."""
from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, text

from caredesk.db.models import AgentSession, Message
from caredesk.db.session import make_engine
from caredesk.settings import PROJECT_ROOT
from tests.bot.conftest import ORIGIN, PASSWORD, add_agent, log_in

PAGES = ["/", "/console/login", "/console", "/console/reports"]
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.I)


async def test_every_page_has_a_policy_without_inline_code_and_obeys_it(gateway, sessions) -> None:
    await add_agent(sessions)
    await log_in(gateway)
    for path in PAGES:
        response = await gateway.get(path)
        assert response.status == 200 and response.content_type == "text/html", path
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert "object-src 'none'" in policy and "base-uri 'none'" in policy
        page = await response.text()
        assert not INLINE.search(page), f"{path} has inline code that the policy would block"
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
            assert (await gateway.get(asset)).status == 200, f"{path} loads {asset}"
    console = (await gateway.get("/console")).headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in console


async def _raw_request(gateway, request: bytes) -> bytes:  # type: ignore[no-untyped-def]
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    writer.write(request)
    await writer.drain()
    head = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    return head


async def test_no_response_names_the_server_software(gateway, sessions) -> None:
    responses = [
        await gateway.get("/"), await gateway.get("/health"), await gateway.get("/static/widget.js"),
        await gateway.get("/nowhere"), await gateway.get("/api/tickets"), await gateway.post("/"),
        await gateway.get("/api/tickets?status=%00"),
    ]
    for response in responses:
        assert "aiohttp" not in response.headers.get("Server", "") and "Python" not in response.headers.get("Server", "")
    socket = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    assert "Server" not in socket._response.headers  # the upgrade answer
    await socket.close()
    # Answers written before any routing (a request line aiohttp cannot parse).
    for garbage in (b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"):
        head = await _raw_request(gateway, garbage)
        assert head.split(b"\r\n")[0].endswith(b"400 Bad Request"), head[:60]
        assert b"aiohttp" not in head and b"Python" not in head, head


def test_the_app_creates_its_sqlite_files_private(tmp_path: Path) -> None:
    async def touch(database: Path) -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{database}")
        async with engine.begin() as connection:
            await connection.execute(text("create table if not exists t (x int)"))
            await connection.execute(text("insert into t values (1)"))
        await engine.dispose()

    old = os.umask(0o022)  # as a careless shell would have it
    try:
        fresh = tmp_path / "var" / "caredesk.db"
        asyncio.run(touch(fresh))
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
        for extra in (Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
            if extra.exists():
                assert stat.S_IMODE(extra.stat().st_mode) == 0o600, extra
        readable = tmp_path / "old.db"
        readable.touch(mode=0o644)
        readable.chmod(0o644)
        asyncio.run(touch(readable))
        assert stat.S_IMODE(readable.stat().st_mode) == 0o600, "an older world-readable file is narrowed"
    finally:
        os.umask(old)


def test_the_launch_scripts_create_files_for_their_owner_only() -> None:
    for script in ("scripts/run.sh", "scripts/shell.sh"):
        head = (PROJECT_ROOT / script).read_text().splitlines()[:12]
        assert "umask 077" in " ".join(head), script


async def test_a_failed_sign_in_logs_no_username_at_info(gateway, sessions, caplog) -> None:
    await add_agent(sessions)
    caplog.set_level(logging.INFO)
    secret_looking = "my-password-typed-as-username"
    response = await gateway.post("/console/login", data={"username": secret_looking, "password": "x" * 12},
                                  allow_redirects=False)
    assert response.headers["Location"] == "/console/login?error=1"
    assert any("failed console login" in r.getMessage() for r in caplog.records)
    assert not any(secret_looking in r.getMessage() for r in caplog.records if r.levelno <= logging.INFO)


async def test_a_nul_byte_in_a_url_gets_400_not_500(gateway, sessions) -> None:
    await add_agent(sessions)
    await log_in(gateway)
    for path in ("/api/tickets?status=%00", "/api/conversations/x%00", "/api/tickets/CD-1%00",
                 "/api/conversations?mode=a%00b", "/api/reports?days=1%00", "/api/tickets?%00=1"):
        response = await gateway.get(path)
        assert response.status == 400, path
        assert "not allowed" in (await response.json())["error"], path
    page = await gateway.get("/console/login?error=%00")
    assert page.status == 400 and "not allowed" in await page.text()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gateway.ws_connect("/ws/chat?conversation=c_%00", headers={"Origin": ORIGIN})
    assert refused.value.status == 400


async def test_a_nul_byte_at_sign_in_is_a_failed_sign_in(gateway, sessions) -> None:
    await add_agent(sessions)
    for username, password in (("dana\x00", PASSWORD), ("\x00", "\x00"), ("dana", PASSWORD + "\x00")):
        gateway.session.cookie_jar.clear()
        response = await gateway.post("/console/login", data={"username": username, "password": password},
                                      allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/console/login?error=1"
    async with sessions() as session:
        assert (await session.scalars(select(AgentSession))).all() == []


async def test_api_errors_are_json(gateway, sessions) -> None:
    await add_agent(sessions)
    await log_in(gateway)
    missing = await gateway.get("/api/nothing-here")
    assert missing.status == 404 and (await missing.json())["error"] == "Not Found"
    wrong_method = await gateway.delete("/api/tickets")
    assert wrong_method.status == 405 and (await wrong_method.json())["error"]
    spec = await gateway.get("/api/openapi.json")
    assert spec.status == 200 and (await spec.json())["openapi"].startswith("3.")


async def _next_error(socket) -> dict:  # type: ignore[no-untyped-def]
    while True:
        frame = await asyncio.wait_for(socket.receive_json(), 10)
        if frame["type"] == "error":
            return frame  # type: ignore[no-any-return]


async def test_a_lone_surrogate_or_nul_in_a_chat_message_is_stored_and_answered_politely(gateway, sessions) -> None:
    socket = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    conversation_id = (await socket.receive_json())["conversation_id"]
    await socket.send_str('{"type": "message", "text": "my \\ud83d order\\u0000 is late", "client_id": "s\\u00001"}')
    frames = []
    while not any("technical problem" in (f.get("message") or {}).get("text", "") for f in frames):
        frames.append(await asyncio.wait_for(socket.receive_json(), 10))
    assert not any(f["type"] == "error" for f in frames), frames
    echo = next(f["message"] for f in frames if f["type"] == "message" and f["message"]["from"] == "customer")
    assert echo["text"] == "my \ufffd order is late" and echo["client_id"] == "s1"
    await socket.send_str('{"type": "message", "text": "\\u0000\\u0001"}')
    only_controls = await _next_error(socket)
    assert "couldn't read" in only_controls["text"]
    await socket.send_bytes(b"\x00\x01")
    assert "couldn't read" in (await _next_error(socket))["text"]
    await socket.close()
    async with sessions() as session:
        texts = (await session.scalars(select(Message.text).where(
            Message.conversation_id == conversation_id, Message.sender == "customer"))).all()
    assert texts == ["my \ufffd order is late"]
