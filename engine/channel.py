"""Rasa's REST channel, open only to callers that present the shared channel secret.

Rasa's own `rest` channel takes a message from anyone who can reach the port, and "only on
127.0.0.1" still means any local user or any process tricked into making a request (SSRF).
This channel keeps the REST channel's URL (`/webhooks/rest/webhook`) and name (`rest`, so
stored conversations keep naming their channel as before), but refuses every request to it
without the header `X-CareDesk-Channel-Secret` carrying CAREDESK_CHANNEL_SECRET: 403, and
nothing reaches the tracker store or the action server. credentials.yml names it instead of
`rest:`. Without the secret in the environment the Rasa server does not start at all.
"""
from __future__ import annotations

import hmac
import logging
import os
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
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
            if secret_matches(request.headers.get(SECRET_HEADER), self._secret):
                return None
            logger.warning("Refused a request to the REST channel without the channel secret (%s %s)",
                           request.method, request.path)
            return response.json({"error": "forbidden"}, status=403)

        return blueprint
