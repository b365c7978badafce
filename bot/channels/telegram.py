"""Telegram, with python-telegram-bot 22. Long polling when no webhook URL is set (local use);
otherwise a webhook whose every update must carry our secret token. Updates go through the
same router as the web chat; the bot's buttons become inline keyboards. The webhook stores
what an update brings before it answers Telegram (503 when it cannot, so Telegram sends it
again; an update sent again is stored once), then routes it in the background."""
from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker
from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from caredesk.db.models import Message
from bot import inbound, store
from bot.limits import Limiter
from bot.router import MAX_TEXT, Accepted, Router
from bot.settings import Settings
from bot.text_input import clean
from bot.channels.telegram_updates import command_of, describe, implausible, retry_seconds, split_text

__all__ = ["TelegramChannel", "conversation_id", "split_text", "PREFIX", "SECRET_HEADER"]

logger = logging.getLogger(__name__)

PREFIX = "tg_"
CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COMMANDS = {"start": "/greet", "help": "/help", "human": "/contact_human_agent"}
BACK_TO_ASSISTANT = "assistant"  # while waiting for a person: the widget's "keep chatting with the assistant"
ATTEMPTS = 4
T = TypeVar("T")
Work = Callable[[], Awaitable[Any]]


async def _nothing() -> None:
    return None


def conversation_id(chat_id: int) -> str:
    return f"{PREFIX}{chat_id}"


class TelegramChannel:
    def __init__(self, settings: Settings, router: Router, sessions: async_sessionmaker,  # type: ignore[type-arg]
                 limiter: Limiter) -> None:
        self.settings, self.router, self.sessions, self.limiter = settings, router, sessions, limiter
        self.webhook_mode = bool(settings.telegram_webhook_url)
        self.secret = settings.telegram_secret or secrets.token_urlsafe(32)
        builder = Application.builder().token(settings.telegram_token)
        if settings.telegram_api_url:
            base = settings.telegram_api_url.rstrip("/")
            builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
        if self.webhook_mode:
            builder = builder.updater(None)
        self.application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))  # long polling
        self.application.add_error_handler(self._on_error)
        self._pending: dict[int, asyncio.Task[None]] = {}  # each chat's latest routing, in order

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self.application.initialize()
        allowed = ["message", "callback_query"]
        if self.webhook_mode:
            await self.application.bot.set_webhook(
                url=self.settings.telegram_webhook_url, secret_token=self.secret, allowed_updates=allowed
            )
            await self.application.start()
        else:
            await self.application.bot.delete_webhook()
            await self.application.start()
            assert self.application.updater is not None
            await self.application.updater.start_polling(allowed_updates=allowed, poll_interval=0.0)
        logger.info("Telegram channel on (%s)", "webhook" if self.webhook_mode else "long polling")

    async def stop(self) -> None:
        for task in list(self._pending.values()):  # stored already: answered after a restart
            task.cancel()
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def webhook(self, request: web.Request) -> web.Response:
        """Telegram's POSTs. Without our secret token nothing is processed."""
        given = request.headers.get(SECRET_HEADER, "")
        if not self.webhook_mode or not hmac.compare_digest(given.encode(), self.secret.encode()):
            raise web.HTTPForbidden(text="wrong or missing secret token")
        update = await self._read_update(request)
        try:
            work = await self._accept(update)
        except Exception:
            logger.exception("a Telegram update could not be stored; Telegram will send it again")
            raise web.HTTPServiceUnavailable(text="not stored; send it again")
        assert update.effective_chat is not None
        self._later(update.effective_chat.id, work)
        return web.Response(text="ok")

    async def _read_update(self, request: web.Request) -> Update:
        """The body as an Update, or 400 with one warning line: even with the right secret a
        body may be no update (a proxy, a test, a bug), and it must not cost a traceback."""
        try:
            body = await request.json()
        except ValueError:  # not JSON, or not UTF-8
            body = None
            problem = "not JSON"
        else:
            update_id = body.get("update_id") if isinstance(body, dict) else None
            valid_id = isinstance(update_id, int) and not isinstance(update_id, bool) and update_id >= 0
            problem = "" if valid_id else "no JSON object with an update_id"
        if not problem:
            try:
                update = Update.de_json(body, self.application.bot)
            except Exception as error:  # parsing only: wrong types raise all sorts of errors
                problem = f"not an update ({type(error).__name__})"
            else:
                problem = implausible(update)
                if not problem:
                    return update
        logger.warning("Telegram webhook body refused: %s", problem)
        raise web.HTTPBadRequest(text=f"{problem}; expected a Telegram update")

    # ---- inbound ---------------------------------------------------------------------------
    # Each update is taken in two steps: `_accept` stores what it brings (before the webhook
    # answers Telegram) and returns the rest of the work (routing, Bot API calls), which runs
    # after. A stored line the rest never reached is answered by bot/redrive.py.
    async def _accept(self, update: Update) -> Work:
        assert update.effective_chat is not None
        chat = update.effective_chat.id
        if await self._over_limit(chat):
            return functools.partial(self._tell_too_fast, chat)
        conversation = await self._conversation(chat)
        client_id = f"tg-{update.update_id}"
        client = inbound.client_key("telegram", str(chat))
        if update.callback_query is not None:
            return await self._accept_button(update.callback_query, conversation, client_id, client)
        message = update.effective_message
        text = message.text if message is not None else None
        if text is None:  # a photo, a sticker, a voice message: kept, and a polite word back
            kind = describe(update)
            if not await self.router.record_customer_line(conversation, f"[{kind}]", client_id=client_id):
                return _nothing
            return functools.partial(
                self.router.say, conversation, "system",
                self.router.texts.say("utter_gateway_unsupported_message", kind=kind),
            )
        command = command_of(message)
        if command == BACK_TO_ASSISTANT:  # stored as words; the gateway acts on it, not the bot
            accepted = await self.router.accept(conversation, clean(text)[:MAX_TEXT], client_id=client_id)
            return functools.partial(self._back_to_assistant, accepted, client)
        if command is not None and command not in COMMANDS:
            command = "help"  # a command this bot does not know: what it can do
        accepted = await self.router.accept(
            conversation, clean(text)[:MAX_TEXT], command=COMMANDS[command] if command else None, client_id=client_id,
        )
        return functools.partial(self.router.route, accepted, client=client)

    async def _back_to_assistant(self, accepted: Accepted, client: str) -> None:
        """/assistant while waiting for a person: back to the assistant (as the widget's
        button). Otherwise it is an ordinary line for whoever has the conversation."""
        if accepted.stored.repeated or not await self.router.customer_back(accepted.conversation_id):
            await self.router.route(accepted, client=client)

    async def _accept_button(self, query: CallbackQuery, conversation: str, client_id: str, client: str) -> Work:
        button = await self._button(query.data or "", conversation)
        # The router still checks that the bot's latest turn offered it.
        accepted = None if button is None else await self.router.accept(
            conversation, clean(str(button.get("title", "")))[:MAX_TEXT], payload=str(button.get("payload", "")),
            client_id=client_id,
        )

        async def rest() -> None:
            await self.call(query.answer)
            if accepted is None:
                return
            if query.message is not None:  # one press only: take the keyboard away
                await self.call(query.edit_message_reply_markup, reply_markup=None)
            await self.router.route(accepted, client=client)

        return rest

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Long polling: python-telegram-bot hands over each update, one at a time."""
        if implausible(update):
            logger.warning("Telegram update ignored: %s", implausible(update))
            return
        await (await self._accept(update))()

    def _later(self, chat: int, work: Work) -> None:
        """Run `work` after the chat's earlier work (its lines are answered in order) and
        never more than that chat's work at a time; other chats do not wait."""
        previous = self._pending.get(chat)
        task = asyncio.create_task(self._after(previous, work))
        self._pending[chat] = task
        task.add_done_callback(lambda done: self._pending.pop(chat) if self._pending.get(chat) is done else None)

    @staticmethod
    async def _after(previous: asyncio.Task[None] | None, work: Work) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await work()
        except Exception:  # stored already: bot/redrive.py answers what this did not
            logger.exception("a stored Telegram update could not be routed")

    async def _conversation(self, chat: int) -> str:
        conversation = conversation_id(chat)
        async with self.sessions.begin() as session:
            await store.ensure_conversation(session, conversation, CHANNEL)
        return conversation

    async def _over_limit(self, chat: int) -> bool:
        """Messages per chat: one over the limit is not stored nor routed."""
        return await self.limiter.allow((self.limiter.telegram_messages, str(chat))) > 0

    async def _tell_too_fast(self, chat: int) -> None:
        """The chat is told at most once a minute, so the bot itself never floods it."""
        if await self.limiter.allow((self.limiter.telegram_notice, str(chat))) <= 0:  # logged as often
            logger.info("a Telegram chat is over its message limit; its messages are refused for now")
            await self.call(self.application.bot.send_message, chat_id=chat,
                            text=self.router.texts.say("utter_gateway_too_many_messages"))

    async def _button(self, data: str, conversation: str) -> dict[str, Any] | None:
        """callback_data holds 'b:<message id>:<index>' (Telegram allows 64 bytes): the payload
        itself is read back from the stored message, which must be this chat's own."""
        try:
            _, message_id, index = data.split(":")
            async with self.sessions() as session:
                message = await session.get(Message, int(message_id))
            if message is None or message.conversation_id != conversation or message.sender != "bot":
                raise ValueError("not a button of this chat")
            button = message.buttons[int(index)]
            return dict(button) if isinstance(button, dict) else None
        except (ValueError, IndexError, TypeError):
            logger.warning("unknown button data %r", data[:64])
            return None

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.error("Telegram update failed", exc_info=context.error)

    # ---- outbound --------------------------------------------------------------------------
    async def deliver(self, conversation: str, frame: dict[str, Any]) -> None:
        """Frames the router sends to a Telegram customer. Never raises."""
        chat_id = int(conversation[len(PREFIX):])
        try:
            if frame.get("type") == "typing" and frame.get("on"):
                await self.call(self.application.bot.send_chat_action, chat_id=chat_id, action=ChatAction.TYPING)
            elif frame.get("type") == "message" and frame["message"]["from"] in ("bot", "agent", "system"):
                await self._send(chat_id, frame["message"])
        except TelegramError:
            logger.exception("could not deliver to Telegram chat in %s", conversation)

    async def push(self, conversation: str, message: dict[str, Any]) -> None:
        """Send one stored line now, for a caller that records the result (bot/delivery.py):
        TelegramError when Telegram did not take it."""
        await self._send(int(conversation[len(PREFIX):]), message)

    async def _send(self, chat_id: int, message: dict[str, Any]) -> None:
        text = message["text"] or "…"
        if message["from"] == "agent" and message.get("agent_name"):
            text = f"{message['agent_name']}: {text}"
        keyboard = None
        if message.get("buttons"):
            keyboard = InlineKeyboardMarkup(
                [[InlineKeyboardButton(b["title"], callback_data=f"b:{message['id']}:{i}")]
                 for i, b in enumerate(message["buttons"])]
            )
        parts = split_text(text)
        for number, part in enumerate(parts):
            last = number == len(parts) - 1
            await self.call(self.application.bot.send_message, chat_id=chat_id, text=part,
                            reply_markup=keyboard if last else None)

    async def call(self, method: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
        """Call the Bot API, waiting out flood control (429 retry_after) and brief outages."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await method(**kwargs)
            except RetryAfter as error:
                if attempt == ATTEMPTS:
                    raise
                wait = retry_seconds(error)
                logger.warning("Telegram flood control: retrying in %.1f s", wait)
                await asyncio.sleep(wait)
            except NetworkError:
                if attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(0.5 * 2 ** attempt)
        raise AssertionError("unreachable")
