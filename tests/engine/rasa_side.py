"""Checks of engine/ that need Rasa, so they run in .venv-rasa: `python rasa_side.py DB_URL`.
tests/engine/test_engine.py runs this file and expects every check's name on stdout.

The tracker store checks compare CachedSQLTrackerStore with Rasa's own SQLTrackerStore on the
same database, which stays the one source of truth; the lock checks compare the Redis lock
with Rasa's own RedisLockStore on the same Redis ($REDIS_HOST/$REDIS_PORT, database 4)."""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import jsonschema
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from engine import inference, lock_store, memory, speedups, states
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
async def a_write_between_retrieve_and_save_forces_a_reload(url: str) -> None:
    a, b = cached(url), cached(url)
    await turn(a, "c9", "one")
    tracker = await a.get_or_create_tracker("c9")  # a's next message starts ...
    await turn(b, "c9", "two")  # ... while another process saves one for the same conversation
    tracker.update(UserUttered("three", {"name": "greet", "confidence": 0.9}))
    await a.save(tracker)
    again = await a.retrieve("c9")
    assert again is not tracker, "the held tracker lacks b's events: it must not be used again"
    assert dicts(again) == dicts(await plain(url).retrieve("c9"))


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
        {"events": [{"event": "action", "name": "utter_x", "policy": None, "timestamp": 1.5},
                    {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet", "confidence": 1}}},
                    {"event": "active_loop", "name": None}, {"event": "followup", "name": "x"}],
         "responses": [{"response": "utter_x", "buttons": []}], "other": 1},
    ]
    bad = [
        {"events": "not a list"},
        {"events": [{"name": "a"}]},  # an event without its type
        {"responses": "hi"},
        [],
        {"events": [{"event": "no_such_event"}]},
        {"events": [{"event": "slot", "name": "a"}]},  # a slot without its value
        {"events": [{"event": ["slot"], "name": "a", "value": 1}]},
        {"events": [{"event": "user", "parse_data": {"intent": {"name": 5}}}]},
        {"events": [{"event": "action", "name": "x", "timestamp": "now"}]},
        {"events": ["slot"]},
        {"responses": ["hi"]},
    ]
    for result in good:
        jsonschema.validate(result, schema)
        assert speedups._plainly_valid(result), result  # the quick check alone accepts it
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


def redis_config(**extra: Any) -> EndpointConfig:
    return EndpointConfig(url=os.environ.get("REDIS_HOST") or "127.0.0.1", type="engine.lock_store.CareDeskLockStore",
                          port=os.environ.get("REDIS_PORT") or "6379", db="4", key_prefix="enginecheck", **extra)


@check
async def redis_lock_lets_one_message_through_at_a_time_in_order(url: str) -> None:
    first, second = (lock_store.create(redis_config(backend="redis")) for _ in range(2))  # two Rasa processes
    assert isinstance(first, lock_store.AtomicRedisLockStore)
    conversation, log = f"lock-{uuid.uuid4().hex}", []

    async def message(store: Any, index: int) -> None:
        await asyncio.sleep(index * 0.01)  # arrive in this order
        async with store.lock(conversation, wait_time_in_seconds=0.02):
            log.append(("in", index))
            await asyncio.sleep(0.05)
            log.append(("out", index))

    await asyncio.gather(*(message(first if i % 2 else second, i) for i in range(4)))
    assert log == [(step, i) for i in range(4) for step in ("in", "out")], log
    assert first.red.get(first.key_prefix + conversation) is None, "the lock is removed when nobody waits"


@check
async def redis_lock_keeps_rasas_format_and_two_round_trips(url: str) -> None:
    ours = lock_store.create(redis_config(backend="redis"))
    rasas = RedisLockStore(host=os.environ.get("REDIS_HOST") or "127.0.0.1",
                           port=int(os.environ.get("REDIS_PORT") or 6379), db=4, key_prefix="enginecheck")
    conversation = f"lock-{uuid.uuid4().hex}"
    mine = ours.issue_ticket(conversation)
    theirs = rasas.issue_ticket(conversation)  # Rasa's own store reads and extends our lock
    lock = rasas.get_lock(conversation)
    assert lock is not None and (mine, theirs, lock.now_serving) == (0, 1, 0)
    ours.cleanup(conversation, mine)
    lock = rasas.get_lock(conversation)
    assert lock is not None and lock.now_serving == 1
    ours.cleanup(conversation, theirs)
    assert rasas.get_lock(conversation) is None
    ours.issue_ticket(conversation, lock_lifetime=0.01)  # a crashed process's ticket expires
    await asyncio.sleep(0.05)
    calls = []
    command = ours.red.execute_command
    ours.red.execute_command = lambda *a, **k: calls.append(a[0]) or command(*a, **k)  # type: ignore[method-assign]
    async with ours.lock(conversation, wait_time_in_seconds=0.01):
        pass
    assert len(calls) == 2, f"one round trip to take the lock and one to give it back, not {calls}"
    assert rasas.get_lock(conversation) is None
    assert isinstance(lock_store.CareDeskLockStore(redis_config(backend="in_memory")), InMemoryLockStore)
    assert isinstance(lock_store.CareDeskLockStore(redis_config(backend="redis")), lock_store.AtomicRedisLockStore)


@check
async def action_server_connection_is_kept(url: str) -> None:
    """Rasa's request, on one kept connection: same answers, same errors."""
    peers: set[Any] = set()

    async def handle(request: web.Request) -> web.StreamResponse:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        if request.path.endswith("/plain"):
            return web.Response(text="not json")
        body = await request.json()
        if body.get("fail"):
            return web.json_response({"error": "no"}, status=400)
        return web.json_response({"echo": body, "token": request.query.get("token")})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        assert speedups.install()
        endpoint = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook", token="t0k")
        for n in range(3):
            answer = await endpoint.request(json={"n": n, "text": "caf\u00e9 / ok"}, method="post")
            assert answer == {"echo": {"n": n, "text": "caf\u00e9 / ok"}, "token": "t0k"}, answer
        assert await endpoint.request(method="get", subpath="plain") is None
        try:
            await endpoint.request(json={"fail": True}, method="post")
        except ClientResponseError as error:
            assert error.status == 400
        else:
            raise AssertionError("a 400 answer must raise, as in Rasa")
        assert len(peers) == 1, f"one kept connection, not {len(peers)}"
        await speedups._session(endpoint).close()
    finally:
        await runner.cleanup()


MODEL = Path(__file__).resolve().parents[2] / "models" / "caredesk.tar.gz"
SAID = ["hello", "where is my parcel", "I want to make a complaint", "10005533", "asdf qwer",
        '/inform{"complaint_category":"damaged_item"}', "can I talk to a human", "yes", "no thanks"]


@check
async def the_shipped_model_decides_as_with_rasas_own_runner(url: str) -> None:
    """Each parse and prediction of the trained bot, with every fix of engine/speedups.py and
    engine/inference.py and then with Rasa as shipped: the same intents, confidences, entities, next actions and
    their probabilities."""
    assert speedups.install()
    agent = Agent.load(str(MODEL))
    processor = agent.processor
    assert processor is not None

    async def decisions() -> list[Any]:
        tracker = DialogueStateTracker.from_events("check", [ActionExecuted("action_listen")], slots=agent.domain.slots)
        seen = []
        for text in SAID:
            parsed = await agent.parse_message(text)
            tracker.update(UserUttered(text, parsed["intent"], parsed["entities"], parsed), agent.domain)
            for _ in range(3):  # up to three actions per message
                prediction = processor._predict_next_with_tracker(tracker)
                action = agent.domain.action_names_or_texts[prediction.max_confidence_index]
                seen.append((text, parsed["intent"], parsed["entities"], action,
                             [round(p, 6) for p in prediction.probabilities], prediction.policy_name))
                tracker.update(ActionExecuted(action), agent.domain)
                if action == "action_listen":
                    break
        return seen

    ours = await decisions()
    diet = next(node._component for node in processor.graph_runner._instantiated_nodes.values()
                if type(node._component).__name__ == "DIETClassifier")
    assert inference._CONCRETE in diet.model.__dict__, "DIET's graph was called directly"
    rules = next(node._component for node in processor.graph_runner._instantiated_nodes.values()
                 if type(node._component).__name__ == "RulePolicy")
    tracker = DialogueStateTracker.from_events("rules", [ActionExecuted("action_listen")], slots=agent.domain.slots)
    keys = rules.lookup["rules"]
    for text in SAID:
        parsed = await agent.parse_message(text)
        tracker.update(UserUttered(text, parsed["intent"], parsed["entities"], parsed), agent.domain)
        states = rules._prediction_states(tracker, agent.domain, rule_only_data=rules._get_rule_only_data())
        assert rules._get_possible_keys(keys, states) == speedups._ORIGINALS[(RulePolicy, "_get_possible_keys")](
            rules, keys, states), text  # the rules that fit a real conversation
        tracker.update(ActionExecuted("utter_greet"), agent.domain)
        tracker.update(ActionExecuted("action_listen"), agent.domain)
    rasas = speedups._ORIGINALS[(RulePolicy, "_get_possible_keys")]
    shapes = [rules._rule_key_to_state(key) for key in sorted(keys)]
    for shape, before in zip(shapes, shapes[1:] + shapes[:1]):  # each rule's own turns, alone and later on
        for states in (shape, before + shape):
            assert rules._get_possible_keys(keys, states) == rasas(rules, keys, states), states
    logger = logging.getLogger("rasa")
    level = logger.level
    speedups.uninstall()
    logger.setLevel(logging.DEBUG)  # Rasa's debug lines, with their copies, as shipped
    try:
        assert DaskGraphRunner.run is not speedups._run_graph
        theirs = await decisions()
    finally:
        logger.setLevel(level)
        assert speedups.install()
    assert len(ours) >= len(SAID) and ours == theirs, [(a, b) for a, b in zip(ours, theirs) if a != b][:3]


@check
async def past_states_are_rasas_after_every_event(url: str) -> None:
    """Along a conversation with a form, its unhappy path, undos and a restart, the continued
    states equal Rasa's full replay for every combination of arguments, also after a caller
    changed the states it got."""
    from rasa.shared.core.events import (ActionExecutionRejected, ActionReverted, ActiveLoop, FollowupAction,
                                         Restarted, UserUtteranceReverted)

    assert speedups.install()
    shipped = Domain.load(str(MODEL.parents[1] / "domain.yml")).as_dict()
    for name in ("order_number", "complaint_category", "rating"):  # so that slots show in the states
        shipped["slots"][name]["influence_conversation"] = True
    domain = Domain.from_dict(shipped)
    rule_only = {"rule_only_slots": ["requested_slot"], "rule_only_loops": ["feedback_form"]}

    def said(intent: str, **entities: str) -> UserUttered:
        found = [{"entity": k, "value": v} for k, v in entities.items()]
        return UserUttered(intent, {"name": intent, "confidence": 1.0}, found)

    script: list[Event] = [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        said("greet"), ActionExecuted("utter_greet", hide_rule_turn=True), ActionExecuted("action_listen"),
        said("complaint"), ActionExecuted("action_acknowledge_complaint"), ActionExecuted("complaint_form"),
        ActiveLoop("complaint_form"), SlotSet("requested_slot", "order_number"), ActionExecuted("action_listen"),
        said("inform", order_number="10005533"), SlotSet("order_number", "10005533"),
        ActionExecuted("complaint_form"), SlotSet("requested_slot", "complaint_category"),
        ActionExecuted("action_listen"), said("delivery_time"),
        ActionExecutionRejected("complaint_form"), ActionExecuted("utter_delivery_time", hide_rule_turn=True),
        ActionExecuted("complaint_form"), ActionExecuted("action_listen"), said("nonsense"),
        SlotSet("complaint_category", "other"), UserUtteranceReverted(),  # takes the slot back too
        said("deny"), ActionExecuted("utter_ask_continue"), ActionReverted(),
        FollowupAction("complaint_form"), ActionExecuted("complaint_form"), ActiveLoop(None),
        SlotSet("requested_slot", None), ActionExecuted("action_listen"), said("goodbye"),
        Restarted(), ActionExecuted("action_listen"), said("greet"), ActionExecuted("utter_greet"),
        ActionExecuted("action_listen"), said("complaint"), ActionExecuted("complaint_form"),
        ActiveLoop("complaint_form"), SlotSet("requested_slot", "order_number"),
    ]
    for slot, value in (("order_number", "10005533"), ("complaint_category", "damaged_item"),
                        ("complaint_description", "bent"), ("desired_outcome", "replacement")):
        # the form's happy path: Rasa drops the turns between two of its executions
        script += [ActionExecuted("action_listen"), said("inform"), SlotSet(slot, value),
                   ActionExecuted("complaint_form"), SlotSet("requested_slot", slot)]
    script += [
        ActionExecuted("action_listen"), said("payment_methods"), ActionExecutionRejected("complaint_form"),
        ActionExecuted("utter_payment_methods"), ActionExecuted("complaint_form"),
        SlotSet("requested_slot", "contact"), ActionExecuted("action_listen"), said("inform"),
        SlotSet("contact", "a@b.c"), ActionExecuted("complaint_form"), ActiveLoop(None),
        ActionExecuted("action_submit_complaint"), ActionExecuted("feedback_form"), ActiveLoop("feedback_form"),
        SlotSet("requested_slot", "rating"), ActionExecuted("action_listen"), said("inform", rating="5"),
        SlotSet("rating", "5"), ActionExecuted("feedback_form"), SlotSet("requested_slot", "feedback_comment"),
        ActionExecuted("action_listen"), said("deny"), ActionExecuted("feedback_form"), ActiveLoop(None),
        ActionExecuted("action_save_feedback"), ActionExecuted("action_listen"),
    ]
    tracker = DialogueStateTracker("states", domain.slots)
    capped = DialogueStateTracker("capped", domain.slots, max_event_history=12)
    compared = 0
    for event in script:
        tracker.update(event, domain)
        capped.update(event, domain)
        for one in (tracker, capped):
            assert one.applied_events() == states.RASA_APPLIED_EVENTS(one), (event, one.sender_id)
            one.applied_events().clear()  # a caller may change the list it gets
        for omit in (False, True):
            for ignore in (False, True):
                for data in (None, rule_only):
                    ours = tracker.past_states(domain, omit, ignore, data and dict(data))  # as a copy, like Rasa
                    theirs = states.RASA_PAST_STATES(tracker, domain, omit, ignore, data)
                    assert ours == theirs, (event, omit, ignore, data)
                    if ours:
                        ours[-1].clear()  # what a careless caller might do
                    compared += 1
    assert compared == len(script) * 8
    # A loop named only after it ran twice changes how Rasa reads those runs: start over.
    late = DialogueStateTracker("late", domain.slots)
    for event in [ActionExecuted("action_listen"), said("greet"), ActionExecuted("feedback_form"),
                  ActionExecuted("action_listen"), said("deny"), ActionExecuted("feedback_form"),
                  ActiveLoop("feedback_form"), ActionExecuted("action_listen")]:
        late.update(event, domain)
        assert late.applied_events() == states.RASA_APPLIED_EVENTS(late), event
    replays = tracker.__dict__[states._MEMO]
    assert len(replays) == 8 and all(r.marks for r in replays.values()), "one replay per set of arguments"


@check
async def event_types_resolve_as_in_rasa(url: str) -> None:
    from rasa.shared.core.events import Event, deserialise_events
    from rasa.shared.utils.common import all_subclasses

    assert speedups.install()
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert len(names) > 20
    for name in sorted(names) * 2:  # the second time from what was remembered
        assert Event.resolve_by_type(name) is speedups.RASA_RESOLVE_EVENT(name), name
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    try:
        Event.resolve_by_type("no_such_event")
    except ValueError:
        pass
    else:
        raise AssertionError("an unknown event type must still be refused")
    (slot,) = deserialise_events([{"event": "slot", "name": "order_number", "value": "1"}])
    assert isinstance(slot, SlotSet) and slot.value == "1"


@check
async def slots_are_copied_as_copy_copies_them(url: str) -> None:
    import copy

    from rasa.shared.core import trackers

    assert speedups.install() and trackers.copy.copy is states.shallow_copy
    domain = Domain.load(str(MODEL.parents[1] / "domain.yml"))
    assert len(domain.slots) > 10
    for slot in domain.slots:
        ours, theirs = states.shallow_copy(slot), copy.copy(slot)
        assert type(ours) is type(theirs) and ours.__dict__ == theirs.__dict__, slot.name
        assert ours is not slot and ours.__dict__ is not slot.__dict__
        ours.value = "changed"
        assert slot.value != "changed", "the copy is its own"
    tracker = DialogueStateTracker("c", domain.slots)
    tracker.update(SlotSet(domain.slots[0].name, "x"))
    assert domain.slots[0].value != "x", "a tracker's slot is its own"

    class Odd:  # an object with its own copy protocol is left to copy.copy
        def __copy__(self) -> str:
            return "own"

    assert states.shallow_copy(Odd()) == "own"


@check
async def a_loaded_model_is_kept_out_of_the_collectors_way(url: str) -> None:
    """Once a model is loaded its objects are frozen, so full collections walk only what
    changes; loading another model unfreezes first, so the one before can be collected."""
    import gc

    assert speedups.install()
    gc.unfreeze()
    gc.collect()
    first = Agent.load(str(MODEL))
    frozen = gc.get_freeze_count()
    assert frozen > 100_000, frozen
    assert gc.get_threshold()[2] == memory.FULL_PASS_AFTER != memory.SHIPPED_THRESHOLDS[2]
    assert len(gc.get_objects()) < frozen / 20, "what a full collection walks: only objects made since"
    assert first.processor is not None
    del first
    second = Agent.load(str(MODEL))
    assert second.processor is not None
    again = gc.get_freeze_count()
    # Kept frozen, the first model's reference cycles (about 36,000 objects) would never go.
    assert again - frozen < 10_000, f"the first model was not let go: {frozen} then {again}"
    speedups.uninstall()
    gc.unfreeze()
    third = Agent.load(str(MODEL))
    assert third.processor is not None and gc.get_freeze_count() == 0, "as shipped: nothing frozen"
    assert gc.get_threshold() == memory.SHIPPED_THRESHOLDS


@check
async def a_message_id_seen_before_gets_its_replies_from_the_tracker(url: str) -> None:
    """engine/channel.py: the replies after a message id are those the REST channel sent."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    from engine.channel import replies_to

    buttons = [{"title": "Yes", "payload": "/affirm"}]
    tracker = DialogueStateTracker.from_events("s", [
        UserUttered("hello", {"name": "greet"}, message_id="cd-1"),
        BotUttered("Hi\n\nHow can I help?"), BotUttered("Pick one", {"buttons": buttons}),
        BotUttered(None, {"custom": {"handoff": True}}),
        UserUttered("again", {"name": "greet"}, message_id="cd-2"), BotUttered("later"),
    ])
    live = CollectingOutputChannel()
    for event in list(tracker.events)[1:4]:
        await live.send_response("s", event.message())
    found = await replies_to(tracker, UserMessage("hello", sender_id="s", message_id="cd-1"))
    assert found == live.messages and len(found) == 4, found
    assert await replies_to(tracker, UserMessage("again", sender_id="s", message_id="cd-2")) == [
        {"recipient_id": "s", "text": "later"}]
    assert await replies_to(tracker, UserMessage("hello", sender_id="s", message_id="cd-3")) is None
    assert await replies_to(tracker, UserMessage("other words", sender_id="s", message_id="cd-1")) is None


@check
async def a_message_sent_twice_at_once_is_handled_once(url: str) -> None:
    """engine/channel.py: the check and the turn run under the conversation's lock, so a
    message id sent twice side by side (two gateways) makes one turn and the same replies."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    from engine.channel import answer_once

    store, turns = cached(url), []

    class Processor:
        async def handle_message(self, message: UserMessage) -> None:
            turns.append(message.message_id)
            tracker = await store.get_or_create_tracker(message.sender_id)
            await asyncio.sleep(0.05)  # the second copy arrives while this turn runs
            tracker.update(UserUttered(message.text, {"name": "greet"}, message_id=message.message_id))
            tracker.update(BotUttered(f"re: {message.text}"))
            await message.output_channel.send_response(message.sender_id, {"text": f"re: {message.text}"})
            await store.save(tracker)

    class StandIn:
        lock_store, tracker_store, processor = InMemoryLockStore(), store, Processor()

        def is_ready(self) -> bool:
            return True

    agent, sender = StandIn(), f"once-{uuid.uuid4().hex[:8]}"

    def message(text: str, message_id: str) -> UserMessage:
        return UserMessage(text, CollectingOutputChannel(), sender, message_id=message_id)

    first, second = await asyncio.gather(answer_once(agent, message("hi", "cd-7")),  # type: ignore[arg-type]
                                         answer_once(agent, message("hi", "cd-7")))  # type: ignore[arg-type]
    assert first == second == [{"recipient_id": sender, "text": "re: hi"}], (first, second)
    assert turns == ["cd-7"], turns
    await answer_once(agent, message("more", "cd-8"))  # type: ignore[arg-type]
    assert turns == ["cd-7", "cd-8"]
    user_lines = [e.text for e in (await plain(url).retrieve(sender)).events if isinstance(e, UserUttered)]  # type: ignore[union-attr]
    assert user_lines == ["hi", "more"], user_lines


async def main(url: str) -> None:
    for fn in CHECKS:
        await fn(url)
        print(f"ok {fn.__name__}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
