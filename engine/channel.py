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
"""
from __future__ import annotations

import functools
import hmac
import logging
import os
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core import channels
from rasa.core.channels import console
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.console import CmdlineInput
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

SECRET_ENV = "CAREDESK_CHANNEL_SECRET"
SECRET_HEADER = "X-CareDesk-Channel-Secret"


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
        blueprint = super().blueprint(on_new_message)

        @blueprint.middleware("request")
        async def require_secret(request: Request) -> Optional[HTTPResponse]:
            return _refusal(request, self._secret, request.headers.get(SECRET_HEADER))

        return blueprint


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
