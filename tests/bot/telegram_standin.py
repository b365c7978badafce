"""A local stand-in for Telegram's Bot API (Telegram's servers cannot be reached here).

It answers the methods CareDesk uses the way the real API does, records every call, hands
out updates to long polling, and can answer with flood control (429 retry_after) on demand.
The real python-telegram-bot client talks to it through `base_url`."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

BOT = {"id": 4242, "is_bot": True, "first_name": "Northwind Goods", "username": "northwind_test_bot"}


class BotApiStandIn:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []  # answered calls
        self.refused: list[tuple[str, dict[str, Any]]] = []  # calls answered with 429
        self.flood_control: dict[str, int] = {}  # method -> how many 429 answers to give
        self.webhook: dict[str, Any] = {}
        self._read = 0
        self._updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._update_id = 100
        self._message_id = 500
        self.app = web.Application()
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle)

    # ---- what a customer does -----------------------------------------------------------
    def _user(self, chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "is_bot": False, "first_name": "Maria"}

    def _push(self, update: dict[str, Any]) -> dict[str, Any]:
        self._update_id += 1
        update["update_id"] = self._update_id
        self._updates.append(update)
        self._new_update.set()
        return update

    def _incoming(self, chat_id: int, **content: Any) -> dict[str, Any]:
        self._message_id += 1
        return {"message_id": self._message_id, "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Maria"},
                "from": self._user(chat_id), **content}

    def text(self, chat_id: int, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._push({"message": self._incoming(chat_id, **content)})

    def photo(self, chat_id: int) -> dict[str, Any]:
        photo = [{"file_id": "photo-1", "file_unique_id": "u-1", "width": 90, "height": 90}]
        return self._push({"message": self._incoming(chat_id, photo=photo)})

    def press(self, chat_id: int, sent: dict[str, Any], title: str) -> dict[str, Any]:
        """Press the inline button called `title` under a message the bot sent."""
        keyboard = sent["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in keyboard for b in row if b["text"] == title)
        message = {"message_id": sent["message_id"], "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private"}, "from": BOT, "text": sent["text"]}
        return self._push({"callback_query": {"id": f"cq-{self._update_id}", "from": self._user(chat_id),
                                              "chat_instance": "ci-1", "data": data, "message": message}})

    # ---- what the bot did ---------------------------------------------------------------
    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        return [p for m, p in self.calls if m == "sendMessage" and int(p["chat_id"]) == chat_id]

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    async def wait_for(self, predicate: Any, seconds: float = 30) -> dict[str, Any]:
        """The next sendMessage that satisfies `predicate`, reading the chat in order from the
        message after the last one found (like a customer scrolling down)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for index in range(self._read, len(self.calls)):
                method, params = self.calls[index]
                if method == "sendMessage" and predicate(params):
                    self._read = index + 1
                    return params
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching message within {seconds}s; last calls: {self.calls[-5:]}")

    # ---- the API ---------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        if request.content_type == "application/json":
            params = await request.json()
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                try:
                    params[key] = json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value
                except ValueError:
                    params[key] = value
        if self.flood_control.get(method):
            self.flood_control[method] -= 1
            self.refused.append((method, params))
            return web.json_response({"ok": False, "error_code": 429, "parameters": {"retry_after": 1},
                                      "description": "Too Many Requests: retry after 1"}, status=429)
        if method != "getUpdates":
            self.calls.append((method, params))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": await handler(params)})

    async def _api_getMe(self, params: dict[str, Any]) -> Any:
        return BOT

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), float(params.get("timeout") or 0) or 0.01)
            except asyncio.TimeoutError:
                pass
        return [u for u in self._updates if u["update_id"] >= offset]

    async def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {}
        return True

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        self._message_id += 1
        params["message_id"] = self._message_id
        return {"message_id": self._message_id, "date": int(time.time()), "from": BOT,
                "chat": {"id": int(params["chat_id"]), "type": "private"}, "text": params["text"]}

    async def _api_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        return True
