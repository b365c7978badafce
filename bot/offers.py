"""The buttons of each conversation's latest bot turn, as this gateway stored them.

A button press counts only if the bot's latest turn offered it (bot/inbound.py). Reading that
turn from the transcript cost a query per press, a fifth of the gateway's own time per
message, so the router remembers what it stored: a customer line starts a new turn (nothing
offered yet), and the bot's lines add their buttons to it. A conversation not remembered here
(another gateway stored its turn, or this one restarted) is looked up in the transcript. With
several gateways, a frame another gateway sends to a conversation's customer makes this one
forget the conversation first (Hub.on_remote_turn), so a turn stored elsewhere is read from the
transcript and never judged by buttons remembered here."""
from __future__ import annotations

from collections import OrderedDict

MAX_REMEMBERED = 50_000  # conversations kept, the least recently used dropped first


class Offers:
    def __init__(self, size: int = MAX_REMEMBERED) -> None:
        self._size = size
        self._latest: OrderedDict[str, frozenset[str]] = OrderedDict()

    def __contains__(self, conversation_id: str) -> bool:
        return conversation_id in self._latest

    def get(self, conversation_id: str) -> frozenset[str] | None:
        """What the latest turn offered, or None when this gateway does not know."""
        return self._latest.get(conversation_id)

    def new_turn(self, conversation_id: str) -> None:
        """The customer wrote: nothing is offered until the bot answers."""
        self._keep(conversation_id, frozenset())

    def add(self, conversation_id: str, payloads: frozenset[str]) -> None:
        """The bot's lines of the current turn; a conversation not remembered stays unknown."""
        known = self._latest.get(conversation_id)
        if known is not None:
            self._keep(conversation_id, known | payloads)

    def forget(self, conversation_id: str) -> None:
        """Another gateway wrote to this conversation: the transcript knows its latest turn."""
        self._latest.pop(conversation_id, None)

    def _keep(self, conversation_id: str, payloads: frozenset[str]) -> None:
        self._latest[conversation_id] = payloads
        self._latest.move_to_end(conversation_id)
        if len(self._latest) > self._size:
            self._latest.popitem(last=False)
