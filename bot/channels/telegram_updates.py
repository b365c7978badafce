"""Reading Telegram's updates and writing within its limits: what python-telegram-bot leaves
to its handlers (bot/channels/telegram.py)."""
from __future__ import annotations

import datetime as dt
import warnings

from telegram import Message, Update
from telegram.constants import MessageEntityType, MessageLimit
from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning


def command_of(message: Message) -> str | None:
    """The command a message starts with (`/start@northwind_bot now` -> start), as
    python-telegram-bot's CommandHandler reads it; None for plain text."""
    entities = message.entities or ()
    text = message.text or ""
    if not entities or entities[0].type != MessageEntityType.BOT_COMMAND or entities[0].offset != 0:
        return None
    return text[1:entities[0].length].split("@")[0].lower()


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


def implausible(update: Update) -> str:
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
