"""`rasa shell` with its channel behind the channel secret as well.

`rasa shell` starts a whole Rasa server on a local port with the `cmdline` channel, which
answers anyone at `/webhooks/rest/webhook` for as long as the chat lasts, and Rasa then calls
the action server with the real action token. Here the cmdline channel demands the channel
secret, and the terminal chat (Rasa's own console loop, which can only add a `token` query
parameter to its requests) is given it. Called by engine/serve.py before Rasa starts.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core import channels
from rasa.core.channels import console
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.console import CmdlineInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from engine.channel import SECRET_HEADER, secret_matches

logger = logging.getLogger(__name__)


class SecretCmdlineInput(CmdlineInput):
    """Rasa's cmdline channel, refusing requests without the channel secret (header, or the
    `token` query parameter that Rasa's console loop sends)."""

    secret = ""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)

        @blueprint.middleware("request")
        async def require_secret(request: Request) -> Optional[HTTPResponse]:
            presented = request.headers.get(SECRET_HEADER) or request.args.get("token")
            if secret_matches(presented, self.secret):
                return None
            logger.warning("Refused a request to the shell's channel without the channel secret")
            return response.json({"error": "forbidden"}, status=403)

        return blueprint


def guard_shell_channel(secret: str) -> None:
    """Swap Rasa's cmdline channel for the guarded one and let the console loop present the
    secret. Rasa looks both up at call time, after this has run."""
    if not secret:
        raise ValueError("the channel secret is empty")
    SecretCmdlineInput.secret = secret
    channels.BUILTIN_CHANNELS[CmdlineInput.name()] = SecretCmdlineInput
    console.record_messages = functools.partial(console.record_messages, auth_token=secret)
