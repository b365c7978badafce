"""Rasa's REST channel (and `rasa shell`'s), open only to callers that present the shared
channel secret.

Rasa's own `rest` channel takes a message from anyone who can reach the port, and "only on
127.0.0.1" still means any local user or any process tricked into making a request (SSRF).
This channel keeps the REST channel's URL (`/webhooks/rest/webhook`) and name (`rest`, so
stored conversations keep naming their channel as before), but refuses every request to it
without the header `X-CareDesk-Channel-Secret` carrying CAREDESK_CHANNEL_SECRET: 403, and
nothing reaches the tracker store or the action server. credentials.yml names it instead of
`rest:`. Without the secret in the environment the Rasa server does not start at all.

`rasa shell` starts a whole Rasa server too, with the `cmdline` channel at the same URL, for
as long as the chat lasts; engine/serve.py swaps Rasa's built-in `cmdline` and `rest`
channels for guarded ones (so `--connector rest` or a stale `rest:` in credentials.yml cannot
open an unguarded door either), and lets Rasa's console loop present the secret, which it can
only send as a `token` query parameter.

A message may carry a `message_id` (the gateway sends `cd-<line id>`): then it is answered
once. The gateway sends a stored line again when it cannot know whether Rasa handled it (a
crash, a lost answer, a fault); under the conversation's lock (the lock Rasa's
`Agent.handle_message` takes), a message id that Rasa's tracker already holds gets the bot's
replies that followed it, read from the tracker, instead of a second turn.
"""
from __future__ import annotations

import functools
import hmac
import logging
import os
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Union

import rasa.utils.endpoints

from rasa.core import channels
from rasa.core.channels import console
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.console import CmdlineInput
from rasa.core.channels.rest import RestInput
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

logger = logging.getLogger(__name__)

SECRET_ENV = "CAREDESK_CHANNEL_SECRET"
SECRET_HEADER = "X-CareDesk-Channel-Secret"
MAX_MESSAGE_ID = 128


def secret_matches(presented: Optional[str], secret: str) -> bool:
    """Constant-time comparison; a missing header never matches."""
    if not presented or not secret:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), secret.encode("utf-8"))


def _refusal(request: Request, secret: str, presented: Optional[str]) -> Optional[HTTPResponse]:
    """None lets the request through; a 403 answer otherwise (logged without the header)."""
    if secret_matches(presented, secret):
        return None
    logger.warning("Refused a request to Rasa's channel without the channel secret (%s %s)",
                   request.method, request.path)
    return response.json({"error": "forbidden"}, status=403)


class SecretRestInput(RestInput):
    """The REST channel behind a shared secret (a header, compared in constant time)."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError(f"the channel secret is empty: set {SECRET_ENV}")
        self._secret = secret

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        """The secret comes from the environment only, never from credentials.yml."""
        secret = os.environ.get(SECRET_ENV, "")
        if not secret:
            raise SystemExit(f"{SECRET_ENV} is not set: the Rasa server refuses to open its channel "
                             "without a secret (scripts/run.sh makes one for each run).")
        return cls(secret)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        """Rasa's REST routes (a health check and the webhook), behind the secret; the
        webhook answers a message with a message id once."""
        blueprint = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @blueprint.middleware("request")
        async def require_secret(request: Request) -> Optional[HTTPResponse]:
            return _refusal(request, self._secret, request.headers.get(SECRET_HEADER))

        @blueprint.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> Union[ResponseStream, HTTPResponse]:
            return await self._receive(request, on_new_message)

        return blueprint

    async def _receive(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[None]]
                       ) -> Union[ResponseStream, HTTPResponse]:
        sender_id = await self._extract_sender(request)
        text = self._extract_message(request)
        input_channel = self._extract_input_channel(request)
        metadata = self.get_metadata(request)
        if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
            return response.stream(self.stream_response(on_new_message, text, sender_id, input_channel, metadata),
                                   content_type="text/event-stream")
        message_id = request.json.get("message_id")
        if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID:
            message_id = None
        collector = CollectingOutputChannel()
        message = UserMessage(text, collector, sender_id, input_channel=input_channel, metadata=metadata,
                              message_id=message_id)
        try:
            if message_id is None:
                await on_new_message(message)
                return response.json(collector.messages)
            return response.json(await answer_once(request.app.ctx.agent, message))
        except CancelledError:
            logger.error("A message to conversation %s timed out", sender_id)
        except Exception:
            logger.exception("A message to conversation %s failed", sender_id)
        if message_id is None:
            return response.json(collector.messages)  # as Rasa's own REST channel answers
        # Nothing of a failed turn is saved: the caller may send the message again.
        return response.json({"error": "the message could not be handled"}, status=500)


async def answer_once(agent: Agent, message: UserMessage) -> List[Dict[str, Any]]:
    """The bot's replies to `message`: its turn, or, if the tracker holds its message id
    already, the replies that turn gave. Under the conversation's lock, as
    `Agent.handle_message` runs a turn (the lock is not re-entrant: this runs the turn itself)."""
    if not agent.is_ready():
        logger.info("Ignoring a message: the model is not loaded yet.")
        return []
    sender_id = message.sender_id
    async with agent.lock_store.lock(sender_id):
        tracker = await agent.tracker_store.retrieve(sender_id)  # type: ignore[union-attr]
        earlier = None if tracker is None else await replies_to(tracker, message)
        if earlier is not None:
            logger.info("Message %s of conversation %s was handled before: its replies again",
                        message.message_id, sender_id)
            return earlier
        await agent.processor.handle_message(message)  # type: ignore[union-attr]
    assert isinstance(message.output_channel, CollectingOutputChannel)
    return message.output_channel.messages


async def replies_to(tracker: DialogueStateTracker, message: UserMessage) -> Optional[List[Dict[str, Any]]]:
    """The bot's messages after the UserUttered with `message`'s id, as the REST channel sent
    them; None when the tracker does not hold it (or holds that id with other words: not
    this message)."""
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if not isinstance(event, UserUttered) or event.message_id != message.message_id:
            continue
        if event.text != message.text:
            logger.warning("Message id %s of conversation %s came with other words: a new message",
                           message.message_id, tracker.sender_id)
            return None
        collector = CollectingOutputChannel()
        for later in events[index + 1:]:
            if isinstance(later, UserUttered):
                break
            if isinstance(later, BotUttered):
                await collector.send_response(tracker.sender_id, later.message())
        return collector.messages
    return None


class SecretCmdlineInput(CmdlineInput):
    """`rasa shell`'s channel behind the secret: the header, or the `token` query parameter
    that Rasa's console loop sends (guard_builtin_channels gives it the secret)."""

    secret = ""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        if not cls.secret:
            raise SystemExit(f"{SECRET_ENV} is not set: the shell's channel needs it too.")
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)

        @blueprint.middleware("request")
        async def require_secret(request: Request) -> Optional[HTTPResponse]:
            presented = request.headers.get(SECRET_HEADER) or request.args.get("token")
            return _refusal(request, self.secret, presented)

        return blueprint


def guard_builtin_channels(secret: str) -> None:
    """Make Rasa's built-in `rest` and `cmdline` channels the guarded ones, and let Rasa's
    console loop (the terminal chat of `rasa shell`) present the secret. Rasa looks all of
    these up when it starts serving, after this has run (engine/serve.py)."""
    if not secret:
        raise ValueError("the channel secret is empty")
    SecretCmdlineInput.secret = secret
    channels.BUILTIN_CHANNELS[RestInput.name()] = SecretRestInput
    channels.BUILTIN_CHANNELS[CmdlineInput.name()] = SecretCmdlineInput
    console.record_messages = functools.partial(console.record_messages, auth_token=secret)
