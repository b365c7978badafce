"""What every CareDesk action shares: its database sessions, the company facts and a clock.

Rasa builds actions with no arguments, so each dependency is optional and falls back to a
lazily built default; tests pass their own."""
from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any, Awaitable, Callable, TypeVar

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker

from caredesk.company import Company, cached_company
from caredesk.db.models import utcnow
from caredesk.db.session import default_sessions
from actions.guessing import Limits
from caredesk.settings import Settings

logger = logging.getLogger(__name__)

Run = TypeVar("Run", bound=Callable[..., Awaitable[list[Any]]])


class Resources:
    """Mixin giving an action `sessions`, `company`, guessing `limits` and `now()`."""

    def __init__(
        self,
        sessions: async_sessionmaker | None = None,  # type: ignore[type-arg]
        company: Company | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._sessions = sessions
        self._company = company
        self._clock = clock or utcnow
        self._limits = limits

    @property
    def sessions(self) -> async_sessionmaker:  # type: ignore[type-arg]
        if self._sessions is None:
            self._sessions = default_sessions()
        return self._sessions

    @property
    def company(self) -> Company:
        if self._company is None:
            self._company = cached_company(Settings.from_env().company_file)
        return self._company

    @property
    def limits(self) -> Limits:
        """How many failed identity checks pause further ones (actions/guessing.py)."""
        if self._limits is None:
            self._limits = Limits.from_env()
        return self._limits

    def now(self) -> dt.datetime:
        return self._clock()


def channel_of(tracker: Tracker) -> str:
    """The customer's channel: the gateway's metadata if present, else Rasa's input channel."""
    metadata: dict[str, Any] = tracker.latest_message.get("metadata") or {}
    channel = metadata.get("channel") or tracker.get_latest_input_channel()
    return str(channel or "unknown")


def float_slot(tracker: Tracker, name: str) -> float | None:
    value = tracker.get_slot(name)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def polite_on_failure(run: Run) -> Run:
    """If the database fails, the customer hears a polite apology instead of silence, and the
    error is logged with its traceback. Rasa's tracker store still holds their messages."""

    @functools.wraps(run)
    async def guarded(
        self: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[Any]:
        try:
            return await run(self, dispatcher, tracker, domain)
        except (SQLAlchemyError, OSError):
            logger.exception("%s failed in conversation %s", self.name(), tracker.sender_id)
            dispatcher.messages.clear()
            dispatcher.utter_message(response="utter_technical_problem")
            if isinstance(self, FormValidationAction):
                return []
            return [FollowupAction("action_listen")]  # stop here; ask nothing more

    return guarded  # type: ignore[return-value]
