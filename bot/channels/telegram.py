"""Telegram, with python-telegram-bot 22. Long polling when no webhook URL is set (local use);
otherwise a webhook whose every update must carry our secret token. Updates go through the
same router as the web chat; the bot's buttons become inline keyboards."""
from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import secrets
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, MessageLimit
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters
from telegram.warnings import PTBDeprecationWarning

from actions.db.models import Message
from bot import inbound, store
from bot.limits import Limiter
from bot.router import MAX_TEXT, Router
from bot.settings import Settings
from bot.text_input import clean

logger = logging.getLogger(__name__)

PREFIX = "tg_"
CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COMMANDS = {"start": "/greet", "help": "/help", "human": "/contact_human_agent"}
ATTEMPTS = 4
T = TypeVar("T")


def conversation_id(chat_id: int) -> str:
    return f"{PREFIX}{chat_id}"


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Telegram takes at most 4096 characters a message: cut at line ends, else at spaces."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    return parts + [text] if text or not parts else parts


def describe(update: Update) -> str:
    message = update.effective_message
    for kind in ("photo", "sticker", "voice", "audio", "video", "video_note", "document", "animation",
                 "location", "contact", "poll"):
        if message is not None and getattr(message, kind, None):
            return kind.replace("_", " ")
    return "message"


def _implausible(update: Update) -> str:
    """What the handlers rely on and python-telegram-bot does not check: a chat with an
    integer id, and text and button data that are strings."""
    chat, message, query = update.effective_chat, update.effective_message, update.callback_query
    if chat is None or not isinstance(chat.id, int) or isinstance(chat.id, bool):
        return "no chat with an integer id"
    if message is not None and not isinstance(message.text or "", str):
        return "text that is not a string"
    if query is not None and not isinstance(query.data or "", str):
        return "button data that is not a string"
    return ""


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
        for command in COMMANDS:
            self.application.add_handler(CommandHandler(command, self._on_command))
        self.application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._on_text))
        self.application.add_handler(CallbackQueryHandler(self._on_button))
        self.application.add_handler(MessageHandler(~filters.TEXT & ~filters.COMMAND, self._on_other))
        self.application.add_error_handler(self._on_error)

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
        await self.application.update_queue.put(update)
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
                problem = _implausible(update)
                if not problem:
                    return update
        logger.warning("Telegram webhook body refused: %s", problem)
        raise web.HTTPBadRequest(text=f"{problem}; expected a Telegram update")

    # ---- inbound ---------------------------------------------------------------------------
    async def _conversation(self, update: Update) -> str:
        assert update.effective_chat is not None
        conversation = conversation_id(update.effective_chat.id)
        async with self.sessions.begin() as session:
            await store.ensure_conversation(session, conversation, CHANNEL)
        return conversation

    async def _too_fast(self, update: Update) -> bool:
        """Messages per chat: one over the limit is not stored nor routed. The chat is told
        so at most once a minute, so the bot itself never floods it."""
        assert update.effective_chat is not None
        chat = str(update.effective_chat.id)
        if await self.limiter.allow((self.limiter.telegram_messages, chat)) <= 0:
            return False
        if await self.limiter.allow((self.limiter.telegram_notice, chat)) <= 0:  # logged as often
            logger.info("a Telegram chat is over its message limit; its messages are refused for now")
            await self.call(self.application.bot.send_message, chat_id=update.effective_chat.id,
                            text=self.router.texts.say("utter_gateway_too_many_messages"))
        return True

    async def _route(self, update: Update, text: str, *, payload: str | None = None,
                     command: str | None = None) -> None:
        if await self._too_fast(update):
            return
        conversation = await self._conversation(update)
        assert update.effective_chat is not None
        await self.router.customer_message(
            conversation, clean(text)[:MAX_TEXT], payload=payload, command=command, client_id=f"tg-{update.update_id}",
            client=inbound.client_key("telegram", str(update.effective_chat.id)),
        )

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await self._route(update, update.effective_message.text or "")

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        text = update.effective_message.text or ""
        name = text.split()[0].lstrip("/").split("@")[0].lower() if text.split() else ""
        await self._route(update, text, command=COMMANDS.get(name, "/help"))

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await self.call(query.answer)
        assert update.effective_chat is not None
        button = await self._button(query.data or "", conversation_id(update.effective_chat.id))
        if button is None:
            return
        if query.message is not None:  # one press only: take the keyboard away
            await self.call(query.edit_message_reply_markup, reply_markup=None)
        # The router still checks that the bot's latest turn offered it.
        await self._route(update, str(button.get("title", "")), payload=str(button.get("payload", "")))

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

    async def _on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Photos, stickers, voice, files: kept in the transcript, and a polite word back."""
        if await self._too_fast(update):
            return
        conversation = await self._conversation(update)
        kind = describe(update)
        await self.router.record_customer_line(conversation, f"[{kind}]")
        await self.router.say(
            conversation, "system",
            self.router.texts.say("utter_gateway_unsupported_message", kind=kind),
        )

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
