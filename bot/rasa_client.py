"""Talking to the Rasa server: its REST channel for messages, its HTTP API to resume a
conversation after a hand-off. Any failure is one typed error the router can handle."""
from __future__ import annotations

import logging
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)


class RasaUnavailable(RuntimeError):
    """Rasa (or the action server behind it) did not answer properly."""


class RasaClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._token = token

    async def send(self, sender: str, message: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """The bot's replies to one message (empty while the conversation is paused)."""
        body = {"sender": sender, "message": message, "metadata": metadata}
        try:
            async with self._session.post(f"{self._base}/webhooks/rest/webhook", json=body) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status}")
                replies = await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RasaUnavailable(str(error) or type(error).__name__) from error
        if not isinstance(replies, list):
            raise RasaUnavailable("Rasa answered something that is not a list of messages")
        return replies

    async def resume(self, sender: str) -> None:
        """Lift the pause the hand-off action set, so the bot answers again."""
        url = f"{self._base}/conversations/{sender}/tracker/events"
        try:
            async with self._session.post(
                url, params={"token": self._token}, json={"event": "resume"}
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status} to resume")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RasaUnavailable(str(error) or type(error).__name__) from error
