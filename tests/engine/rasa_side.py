"""Checks of engine/ that need Rasa, so they run in .venv-rasa: `python rasa_side.py DB_URL`.
tests/engine/test_engine.py runs this file and expects every check's name on stdout.

Each check compares CachedSQLTrackerStore with Rasa's own SQLTrackerStore on the same
database, which stays the one source of truth."""
from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable

import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from engine import speedups
from engine.tracker_store import CachedSQLTrackerStore

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet, complaint]
slots:
  order_number:
    type: text
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "Hi"}]
""")

CHECKS: list[Callable[[str], Awaitable[None]]] = []


def check(fn: Callable[[str], Awaitable[None]]) -> Callable[[str], Awaitable[None]]:
    CHECKS.append(fn)
    return fn


def cached(url: str, **kwargs: Any) -> CachedSQLTrackerStore:
    return CachedSQLTrackerStore(domain=DOMAIN, host=url, **kwargs)


def plain(url: str) -> SQLTrackerStore:
    return SQLTrackerStore(domain=DOMAIN, host=url)


def dicts(tracker: DialogueStateTracker | None) -> list[dict[str, Any]]:
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


async def turn(store: Any, sender: str, text: str, *, save: bool = True) -> DialogueStateTracker:
    """What Rasa's processor does with one message: get the tracker, add to it, save it."""
    tracker = await store.get_or_create_tracker(sender)
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered(f"re: {text}"))
    tracker.update(SlotSet("order_number", text))
    tracker.update(ActionExecuted("action_listen"))
    if save:
        await store.save(tracker)
    return tracker


@check
async def unchanged_conversation_is_not_reloaded(url: str) -> None:
    store = cached(url)
    first = await turn(store, "c1", "one")
    second = await turn(store, "c1", "two")
    assert second is first, "nothing else wrote: the tracker from the last message is used again"
    assert dicts(await plain(url).retrieve("c1")) == dicts(second), "every event is in the database"
    assert second.get_slot("order_number") == "two"


@check
async def another_process_writing_forces_a_reload(url: str) -> None:
    a, b = cached(url), cached(url)
    held = await turn(a, "c2", "one")
    await turn(b, "c2", "two")  # another Rasa process handles the next message
    fresh = await a.retrieve("c2")
    assert fresh is not held
    assert dicts(fresh) == dicts(await plain(url).retrieve("c2"))
    assert fresh is not None and fresh.get_slot("order_number") == "two"
    await turn(a, "c2", "three")
    assert dicts(await b.retrieve("c2")) == dicts(await plain(url).retrieve("c2"))


@check
async def unsaved_events_of_a_failed_turn_are_dropped(url: str) -> None:
    store = cached(url)
    await turn(store, "c3", "one")
    broken = await turn(store, "c3", "lost", save=False)  # the turn failed before its save
    again = await store.retrieve("c3")
    assert again is not broken
    assert again is not None and again.get_slot("order_number") == "one"
    assert dicts(again) == dicts(await plain(url).retrieve("c3"))


@check
async def a_new_session_loads_only_that_session(url: str) -> None:
    store = cached(url)
    tracker = await turn(store, "c4", "one")
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(ActionExecuted("action_listen"))
    await store.save(tracker)
    after = await store.retrieve("c4")
    assert dicts(after) == dicts(await plain(url).retrieve("c4"))
    assert len(after.events) < len(tracker.events), "the earlier session is not loaded"
    await turn(store, "c4", "two")
    assert dicts(await store.retrieve("c4")) == dicts(await plain(url).retrieve("c4"))


@check
async def trackers_saved_by_rasa_elsewhere_are_read_whole(url: str) -> None:
    rasa_own = plain(url)
    await turn(rasa_own, "c5", "one")
    store = cached(url)
    tracker = await turn(store, "c5", "two")
    assert dicts(tracker) == dicts(await rasa_own.retrieve("c5"))


@check
async def memory_holds_at_most_cache_size_conversations(url: str) -> None:
    store = cached(url, cache_size="2")  # endpoints.yml values may arrive as text
    held = {sender: await turn(store, sender, "one") for sender in ("c6", "c7", "c8")}
    assert (await store.retrieve("c6")) is not held["c6"], "the oldest was let go"
    assert (await store.retrieve("c8")) is held["c8"]
    assert len(store._held) <= 2
    off = cached(url, cache_size=0)
    t = await turn(off, "c9", "one")
    assert (await off.retrieve("c9")) is not t, "cache_size 0 turns keeping trackers off"


@check
async def action_server_responses_are_still_checked(url: str) -> None:
    assert speedups.install()
    action = RemoteAction("action_x", None)
    schema = RemoteAction.action_response_format_spec()
    good = [
        {"events": [{"event": "slot", "name": "a", "value": 1}], "responses": [{"text": "hi"}]},
        {"events": [], "responses": []},
        {},
    ]
    bad = [
        {"events": "not a list"},
        {"events": [{"name": "a"}]},  # an event without its type
        {"responses": "hi"},
        [],
    ]
    for result in good:
        jsonschema.validate(result, schema)
        assert action._validate_action_result(result) is True
    for result in bad:
        try:
            jsonschema.validate(result, schema)
        except jsonschema.ValidationError:
            pass
        else:
            raise AssertionError(f"jsonschema itself accepts {result!r}: not a useful case")
        try:
            action._validate_action_result(result)
        except jsonschema.ValidationError as error:
            assert "action_x" in error.message
        else:
            raise AssertionError(f"{result!r} was accepted")


async def main(url: str) -> None:
    for fn in CHECKS:
        await fn(url)
        print(f"ok {fn.__name__}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
