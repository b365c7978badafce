"""Fixes for hot spots inside Rasa 3.6, found with a profiler (docs/benchmark.md).

1. Rasa checks every action server response with `jsonschema.validate(result, schema)`. That
call first checks the schema itself against JSON Schema's meta-schema and builds a new
validator, on every response, although the schema never changes: 10-12 % of a Rasa
process's time under load. `install()` makes the check compile the schema once and then
validate each response against it, exactly as strictly as before (an invalid response still
raises `jsonschema.ValidationError`). The schema says each event is exactly one of ~25 kinds
(`oneOf`), and each kind fixes the event's name, so each event is checked against the kind
it names only: the same verdict, without trying all 25.

2. Each call to the action server (every custom action and every form step's validation)
opened a new HTTP client session and TCP connection, and encoded the whole conversation with
the standard library's `json`: together about 8 % of a Rasa process's time. Each endpoint
now keeps one session with keep-alive connections and encodes with `ujson` (a dependency
of Rasa's web server); requests, timeouts and errors are otherwise exactly Rasa's.

3. Every prediction and every parse runs part of the model's graph through `dask`, which
plans the run anew each time (the needed sub-graph, a task order, its bookkeeping) and
formats a debug message holding the inputs even when debug logging is off: about 6 % of the
time. The plan of each set of targets is now made once and the nodes run in that order,
in the one thread Rasa's dask scheduler used anyway; each node runs exactly as before.

4. Rasa's processor, forms and rule and memoization policies deep-copy the conversation's
states and events for debug log lines on every prediction, also when those lines are
dropped (about 5 %). The copies are now made only when debug logging is on. Likewise, each
parse deep-copied a message's first features to combine them with the rest; now only their
matrix is copied (2 %).

5. A tracker copies every slot when it is made, and Rasa makes many trackers per message
(one per prediction to read the conversation's states, one per action, one per form
check), with `copy.copy`, whose generic protocol is slow: about 4 %. Slots, plain objects,
are now copied by copying their attributes, which is what `copy.copy` does for them.

6. Each event in an action server's answer is turned into an object by searching all of
Rasa's event classes, listed anew by walking the class tree every time (about 3 %). Found
classes are now remembered by their type name.

7. The rule policy compared every rule with every turn of the conversation, although a
rule can only fail on the turns it is long: it now stops there, with the same result. Its
first step, every rule against the newest turn (4 %), depends on nothing but that turn's
state, so its result is kept per state.

8. The policies' view of the conversation (its past states) is continued from the last
prediction instead of replayed from the first event: engine/states.py.

9. The NLU's sparse features are stacked in one go, and DIET's graph is called through its
one concrete function: engine/inference.py (together about 10 %).

They are switched on and off by CAREDESK_ENGINE_SPEEDUPS, and installed only by
engine/startup.py, after it checked that Rasa is the version and source they were written
against (engine/patched_sources.py).
"""
from __future__ import annotations

import asyncio
import copy
import functools
import logging
import types
from typing import Any

import aiohttp
import ujson
from aiohttp.client_exceptions import ContentTypeError
from jsonschema import Draft7Validator, ValidationError, exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.domain import State
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url
from rasa.utils.tensorflow.models import RasaModel

from engine import inference, memory, states

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def response_validator() -> Draft7Validator:
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@functools.lru_cache(maxsize=1)
def _event_validators() -> tuple[Draft7Validator, dict[str, Draft7Validator]] | None:
    """The events schema says each event matches exactly one of ~25 kinds (`oneOf`), so
    jsonschema tries every kind for every event. Each kind fixes `event` to its own constant,
    so only the kind an event names can match: checking the rest of the schema and then that
    kind alone accepts exactly what `oneOf` accepts. None if the schema is not of that shape."""
    response = RemoteAction.action_response_format_spec()
    if set(response) != {"type", "properties"} or set(response["properties"]) != {"events", "responses"}:
        return None  # other keys of a response would matter too: leave it all to jsonschema
    schema = response["properties"]["events"]["items"]
    kinds = schema.get("oneOf") or []
    names = [kind.get("properties", {}).get("event", {}).get("const") for kind in kinds]
    if not kinds or None in names or len(set(names)) != len(names):
        return None
    rest = {key: value for key, value in schema.items() if key != "oneOf"}
    return Draft7Validator(rest), {name: Draft7Validator(kind) for name, kind in zip(names, kinds)}


def _plainly_valid(result: Any) -> bool:
    """True only if the response is valid; False sends it to the full check for its error."""
    checks = _event_validators()
    if checks is None or not isinstance(result, dict):
        return False
    events, responses = result.get("events", []), result.get("responses", [])
    if not isinstance(events, list) or not isinstance(responses, list):
        return False
    if not all(isinstance(response, dict) for response in responses):
        return False
    rest, kinds = checks
    for event in events:
        name = event.get("event") if isinstance(event, dict) else None
        kind = kinds.get(name) if isinstance(name, str) else None
        if kind is None or not rest.is_valid(event) or not kind.is_valid(event):
            return False
    return True


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    if _plainly_valid(result):
        return True
    error: ValidationError | None = exceptions.best_match(response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += f". The response of action server for '{self.name()}' is not in the format Rasa expects."
    raise error


# Below the action server's (Sanic's) keep-alive of 5 s, so the client never reuses a
# connection the server is just closing.
KEEPALIVE_SECONDS = 2.0
_SESSION = "_caredesk_session"


def _session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """The endpoint's long-lived session on the running event loop (a new one if the loop
    changed, as in tests that run several loops)."""
    session: aiohttp.ClientSession | None = endpoint.__dict__.get(_SESSION)
    loop = asyncio.get_running_loop()
    if session is None or session.closed or session._loop is not loop:
        auth = (aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
                if endpoint.basic_auth else None)
        session = aiohttp.ClientSession(  # Rasa's headers, auth and timeout, a kept connection
            headers=endpoint.headers, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            json_serialize=ujson.dumps,
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS, limit=0),
        )
        endpoint.__dict__[_SESSION] = session
    return session


async def _request(self: EndpointConfig, method: str = "post", subpath: str | None = None,
                   content_type: str | None = "application/json", compress: bool = False, **kwargs: Any) -> Any:
    """`EndpointConfig.request` on a kept session (Rasa 3.6.21's, otherwise unchanged; an
    endpoint with a CA file keeps Rasa's own path)."""
    headers = {"Content-Type": content_type} if content_type else {}
    headers.update(kwargs.pop("headers", {}))
    if self.headers:
        headers.update(self.headers)
    async with _session(self).request(
        method, concat_url(self.url, subpath), headers=headers, params=self.combine_parameters(kwargs),
        compress=compress, **kwargs,
    ) as response:
        if response.status >= 400:
            raise ClientResponseError(response.status, response.reason, await response.content.read())
        try:
            return await response.json(loads=ujson.loads)
        except ContentTypeError:
            return None


_rasa_request = EndpointConfig.request


async def _kept_or_rasas(self: EndpointConfig, *args: Any, **kwargs: Any) -> Any:
    if self.cafile:
        return await _rasa_request(self, *args, **kwargs)
    return await _request(self, *args, **kwargs)


_PLANS = "_caredesk_plans"


def _plan(schema: GraphSchema, targets: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """The nodes the targets need, each after what it needs (dask's order is one of these
    too), with the names of its inputs."""
    order: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in schema.nodes:
            return  # done, or an input placeholder
        seen.add(name)
        needs = tuple(schema.nodes[name].needs.values())
        for dependency in needs:
            visit(dependency)
        order.append((name, needs))

    for target in targets:
        visit(target)
    return order


def _run_graph(self: DaskGraphRunner, inputs: dict[str, Any] | None = None,
               targets: list[str] | None = None) -> dict[str, Any]:
    """`DaskGraphRunner.run` with the plan kept: same inputs, same outputs, same errors."""
    run_targets = tuple(targets if targets else self._graph_schema.target_names)
    plans: dict[tuple[str, ...], list[tuple[str, tuple[str, ...]]]] = self.__dict__.setdefault(_PLANS, {})
    plan = plans.get(run_targets)
    if plan is None:
        plan = plans[run_targets] = _plan(self._graph_schema, run_targets)
    # As in dask's graph: an input is the pair (name, value), like a node's output, and a
    # name nothing provides is passed on as the bare name (the node then reports it).
    results: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and value in self._graph_schema.nodes:
            raise GraphRunError(f"Input value '{value}' clashes with a node name. Make sure that none of "
                                f"the input names passed to the `run` method are the same as node names "
                                f"in the graph schema.")
        results[name] = (name, value)
    nodes = self._instantiated_nodes
    try:
        for name, needs in plan:
            results[name] = nodes[name](*(results.get(dependency, dependency) for dependency in needs))
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e
    return dict(results[target] for target in run_targets)


def _debug_only_deepcopy(value: Any, memo: Any = None) -> Any:
    """For arguments of debug log lines only: a copy when those lines are written."""
    return copy.deepcopy(value, memo) if logging.getLogger("rasa").isEnabledFor(logging.DEBUG) else value


_EVENT_TYPES: dict[str, type[Event]] = {}
RASA_RESOLVE_EVENT = Event.resolve_by_type


def _resolve_event_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """`Event.resolve_by_type`, remembering what it found (misses go to Rasa's own)."""
    found = _EVENT_TYPES.get(type_name)
    if found is None:
        found = next((cls for cls in all_subclasses(Event) if cls.type_name == type_name), None)
        if found is None:
            return RASA_RESOLVE_EVENT(type_name, default)
        _EVENT_TYPES[type_name] = found
    return found


_FIRST_TURNS = "_caredesk_first_turns"
_FIRST_TURNS_KEPT = 4096  # conversation states remembered per lookup


def _state_key(state: State) -> tuple[Any, ...] | None:
    """A hashable copy of a state (equal keys, equal states), None if a value is unhashable."""
    key = tuple((name, tuple(sub_state.items())) for name, sub_state in state.items())
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _get_possible_keys(self: RulePolicy, lookup: dict[str, str], states: list[State]) -> set[str]:
    """`RulePolicy._get_possible_keys`, stopping at the longest rule: further back in the
    conversation than a rule is long, Rasa's check keeps every rule anyway, so it went
    through the whole conversation for nothing (a rule × turn check per pair, 5 %). The
    first step, every rule against the newest turn, depends on nothing but that turn's state,
    so its result is kept per state (it was 4 % of the process)."""
    kept = self.__dict__.setdefault(_FIRST_TURNS, {})
    entry = kept.get(id(lookup))
    if entry is None or entry[0] is not lookup:
        longest = max((len(self._rule_key_to_state(key)) for key in lookup), default=0)
        entry = kept[id(lookup)] = (lookup, longest, {})
    _, longest, first_turns = entry
    if not longest or not states:
        return set(lookup)
    key = _state_key(states[-1])
    possible = first_turns.get(key) if key is not None else None
    if possible is None:
        possible = frozenset(rule for rule in lookup if self._is_rule_applicable(rule, 0, states[-1]))
        if key is not None:
            if len(first_turns) >= _FIRST_TURNS_KEPT:
                first_turns.clear()
            first_turns[key] = possible
    for turn, state in enumerate(reversed(states[-longest:-1]), start=1):
        possible = {rule for rule in possible if self._is_rule_applicable(rule, turn, state)}
    return set(possible)


_ORIGINALS: dict[tuple[Any, str], Any] = {}


def _patch(owner: Any, name: str, value: Any) -> None:
    _ORIGINALS.setdefault((owner, name), owner.__dict__[name])
    setattr(owner, name, value)


def install() -> int:
    """Patch the fixes in; returns how many attributes of Rasa they replace. Only for a Rasa
    that engine/startup.py checked (tests/engine call it directly to compare with Rasa's own)."""
    from rasa.core import processor
    from rasa.core.actions import forms
    from rasa.core.agent import Agent
    from rasa.core.policies import memoization, rule_policy
    from rasa.shared.core import trackers

    _patch(RemoteAction, "_validate_action_result", _validate_action_result)
    _patch(EndpointConfig, "request", _kept_or_rasas)
    _patch(DaskGraphRunner, "run", _run_graph)
    # In these modules `copy.deepcopy` appears only in debug log lines (Rasa 3.6.21).
    debug_only = types.SimpleNamespace(copy=copy.copy, deepcopy=_debug_only_deepcopy, Error=copy.Error)
    for module in (processor, memoization, rule_policy, forms):
        _patch(module, "copy", debug_only)
    # trackers.py uses `copy` only to copy slots.
    _patch(trackers, "copy", types.SimpleNamespace(copy=states.shallow_copy, deepcopy=copy.deepcopy, Error=copy.Error))
    _patch(DialogueStateTracker, "past_states", states.past_states)
    _patch(DialogueStateTracker, "applied_events", states.applied_events)
    _patch(Event, "resolve_by_type", staticmethod(_resolve_event_type))
    _patch(Message, "_combine_features", staticmethod(inference.combine_features))
    _patch(RasaModel, "_rasa_predict", inference.rasa_predict)
    _patch(RulePolicy, "_get_possible_keys", _get_possible_keys)
    _patch(Agent, "load_model", memory.freezing_after(_ORIGINALS.get((Agent, "load_model"), Agent.load_model)))
    return len(_ORIGINALS)


def uninstall() -> None:
    """Rasa exactly as shipped again (the checks compare the two)."""
    for (owner, name), original in _ORIGINALS.items():
        setattr(owner, name, original)
    memory.restore_thresholds()
