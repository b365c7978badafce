"""Talking to the Rasa server: its REST channel for messages, its HTTP API to resume a
conversation after a hand-off. Any failure is one typed error the router can handle.

Several Rasa processes can run side by side (RASA_PROCESSES): they share the SQL tracker store
and keep their conversation locks in Redis, so any of them can answer any conversation. Each
conversation still goes to one of them, picked by a stable hash of its id, which spreads the
load evenly and keeps one customer's messages in one queue. A process that refuses the
connection (stopped, restarting) is skipped for the next one; a message is never sent twice."""
from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)


def engine_index(sender: str, engines: int) -> int:
    """Which of `engines` Rasa processes a conversation belongs to (stable across restarts)."""
    return zlib.crc32(sender.encode("utf-8")) % engines


class RasaUnavailable(RuntimeError):
    """Rasa (or the action server behind it) did not answer properly."""


class RasaClient:
    def __init__(self, session: aiohttp.ClientSession, base_urls: str | Sequence[str], token: str) -> None:
        urls = base_urls.split(",") if isinstance(base_urls, str) else list(base_urls)
        self._bases = [url.strip().rstrip("/") for url in urls if url.strip()]
        if not self._bases:
            raise ValueError("no Rasa URL given")
        self._session = session
        self._token = token

    def engines_for(self, sender: str) -> list[str]:
        """The Rasa processes to try for this conversation, its own one first."""
        first = engine_index(sender, len(self._bases))
        return self._bases[first:] + self._bases[:first]

    async def _post(self, sender: str, path: str, what: str, **kwargs: Any) -> Any:
        refused: list[str] = []
        for base in self.engines_for(sender):
            try:
                async with self._session.post(f"{base}{path}", **kwargs) as response:
                    if response.status != 200:
                        raise RasaUnavailable(f"Rasa at {base} answered HTTP {response.status} to {what}")
                    return await response.json(content_type=None)
            except aiohttp.ClientConnectorError as error:
                # Nothing was delivered, so another process may take it without a duplicate.
                logger.warning("Rasa at %s refused the connection (%s); trying the next one", base, error)
                refused.append(base)
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                raise RasaUnavailable(f"{what}: {error or type(error).__name__}") from error
        raise RasaUnavailable(f"no Rasa process answered ({', '.join(refused)})")

    async def send(self, sender: str, message: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """The bot's replies to one message (empty while the conversation is paused)."""
        body = {"sender": sender, "message": message, "metadata": metadata}
        replies = await self._post(sender, "/webhooks/rest/webhook", "a message", json=body)
        if not isinstance(replies, list):
            raise RasaUnavailable("Rasa answered something that is not a list of messages")
        return replies

    async def resume(self, sender: str) -> None:
        """Lift the pause the hand-off action set, so the bot answers again."""
        await self._post(sender, f"/conversations/{sender}/tracker/events", "resume",
                         params={"token": self._token}, json={"event": "resume"})
