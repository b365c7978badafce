"""Loopback is not a wall: on the real stack (tests/conftest.py's `rasa_stack`), a local caller
without the secrets gets nothing from Rasa's channel or the action server, and no secret is
readable on a command line in /proc."""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from caredesk.db.models import Feedback
from bench.stack import ACTION_TOKEN_HEADER, CHANNEL_SECRET_HEADER
from tests.e2e.servers import Stack
from tests.e2e.test_rest_conversations import rows, user_lines_in_tracker_store

pytestmark = pytest.mark.e2e


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


def forged_rating(sender: str) -> dict[str, Any]:
    """What an attacker posts to the action server: `action_save_feedback` with a tracker whose
    slots say the customer gave 5 stars."""
    return {
        "next_action": "action_save_feedback",
        "sender_id": sender,
        "version": "3.6.2",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {"rating": "5", "feedback_comment": "forged"},
            "latest_message": {"text": "/inform", "intent": {"name": "inform"}, "entities": []},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


@pytest.mark.parametrize("headers", [{}, {CHANNEL_SECRET_HEADER: "wrong"}, {CHANNEL_SECRET_HEADER: ""}],
                         ids=["no-secret", "wrong-secret", "empty-secret"])
async def test_rasa_channel_refuses_messages_without_the_secret(
        rasa_stack: Stack, http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
    sender = f"intruder-{uuid.uuid4().hex[:8]}"
    for url in rasa_stack.rasa_urls:
        for query in ("", "?stream=true"):
            async with http.post(f"{url}/webhooks/rest/webhook{query}", headers=headers,
                                 json={"sender": sender, "message": "I want to leave a review"}) as response:
                assert response.status == 403, await response.text()
    assert await user_lines_in_tracker_store(rasa_stack, sender) == []


async def test_rasa_channel_takes_messages_with_the_secret(rasa_stack: Stack, http: aiohttp.ClientSession) -> None:
    """The control: the same request with the secret reaches the bot and its tracker store."""
    sender = f"caller-{uuid.uuid4().hex[:8]}"
    async with http.post(f"{rasa_stack.rasa_url}/webhooks/rest/webhook", headers=rasa_stack.channel_headers,
                         json={"sender": sender, "message": "hello"}) as response:
        assert response.status == 200
        assert await response.json(), "the bot answers"
    assert await user_lines_in_tracker_store(rasa_stack, sender) == ["hello"]


@pytest.mark.parametrize("headers", [{}, {ACTION_TOKEN_HEADER: "wrong"}], ids=["no-token", "wrong-token"])
async def test_action_server_refuses_a_forged_rating(
        rasa_stack: Stack, http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
    sender = f"forger-{uuid.uuid4().hex[:8]}"
    async with http.post(f"{rasa_stack.action_url}/webhook", json=forged_rating(sender), headers=headers) as response:
        assert response.status == 403, await response.text()
    async with http.get(f"{rasa_stack.action_url}/actions", headers=headers) as response:
        assert response.status == 403, "nor does it list its actions"
    assert await rows(rasa_stack, Feedback, sender) == []


async def test_action_server_runs_actions_for_the_token_holder(rasa_stack: Stack, http: aiohttp.ClientSession) -> None:
    """The control: with the token the very same call writes the rating, so the refusal above
    is the token check and not a malformed call. /health stays open for the launchers."""
    sender = f"rasa-{uuid.uuid4().hex[:8]}"
    async with http.post(f"{rasa_stack.action_url}/webhook", json=forged_rating(sender),
                         headers={ACTION_TOKEN_HEADER: rasa_stack.action_token}) as response:
        assert response.status == 200, await response.text()
    [feedback] = await rows(rasa_stack, Feedback, sender)
    assert feedback.rating == 5
    async with http.get(f"{rasa_stack.action_url}/health") as response:
        assert response.status == 200


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text(errors="replace")
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def test_no_secret_on_any_command_line(rasa_stack: Stack) -> None:
    secrets = {"RASA_TOKEN": rasa_stack.token, "CAREDESK_CHANNEL_SECRET": rasa_stack.channel_secret,
               "ACTION_SERVER_TOKEN": rasa_stack.action_token}
    assert all(secrets.values())
    seen = 0
    for name, root in rasa_stack.pids.items():
        for pid in descendants(root):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            seen += 1
            for secret_name, value in secrets.items():
                assert value not in cmdline, f"{secret_name} is on the command line of {name} ({pid})"
    assert seen >= len(rasa_stack.pids)
    # The processes do hold them, in their environment (readable by their own user only).
    rasa_pid = rasa_stack.pids["rasa"]
    assert environ_of(rasa_pid)["RASA_TOKEN"] == rasa_stack.token
    assert environ_of(rasa_pid)["ACTION_SERVER_TOKEN"] == rasa_stack.action_token
    actions_env = environ_of(rasa_stack.pids["actions"])
    assert actions_env["ACTION_SERVER_TOKEN"] == rasa_stack.action_token
    assert "RASA_TOKEN" not in actions_env and "CAREDESK_CHANNEL_SECRET" not in actions_env
