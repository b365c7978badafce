"""A conversation's past states, worked out once and then only for what is new.

Before each prediction, Rasa's rule and memoization policies turn the whole conversation
into a list of states (`DialogueStateTracker.past_states`): it replays every event of the
session into a fresh tracker and reads a state before each action. With two policies, two
or three predictions per message and 100-plus events per conversation, that replay was the
largest share of Rasa's own work per message (about 12 % under load, docs/benchmark.md).

Events are only ever appended to a tracker, and the caching tracker store hands the same
tracker object to every message of a conversation. So each tracker keeps, per set of
arguments, the replay so far: the events it applied, the tracker they built, the states and
the loop variables of Rasa's `Domain.states_for_tracker_history`. The next call replays only
what differs from the events Rasa applies now. Those do not only grow: while a form runs,
Rasa drops the turns between two of its executions (`applied_events`), so the replay also
keeps a copy of itself after each of the last few form executions and resumes from the
latest one that the new events still begin with (the very same event objects); with none,
it replays from the start as before. The steps are Rasa 3.6.21's own, in the same order.
"""
from __future__ import annotations

import copy
import copyreg
import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional

from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, Event, Restarted,
                                     SessionStarted, UserUtteranceReverted, UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker

_MEMO = "_caredesk_past_states"
KEPT_COPIES = 4  # of the replay after a form's execution


_PLAIN: dict[type, bool] = {}


def shallow_copy(value: Any) -> Any:
    """`copy.copy`, fast for plain objects (no __copy__, filled __slots__ or own pickling)."""
    cls = type(value)
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = _PLAIN[cls] = (
            cls.__reduce_ex__ is object.__reduce_ex__ and cls.__reduce__ is object.__reduce__
            and not hasattr(cls, "__copy__") and not copyreg._slotnames(cls) and hasattr(value, "__dict__"))
    if not plain:
        return copy.copy(value)
    twin = cls.__new__(cls)
    twin.__dict__.update(value.__dict__)
    return twin


def _clone(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """An independent copy of a replay tracker: what applying events changes in place (the
    event list, the slots, the active loop's flags) is copied, the rest is only replaced."""
    twin = copy.copy(tracker)
    twin.events = deque(tracker.events, maxlen=tracker.events.maxlen)
    twin.slots = {name: shallow_copy(slot) for name, slot in tracker.slots.items()}
    if tracker.active_loop is not None:
        twin.active_loop = copy.copy(tracker.active_loop)
    return twin


@dataclass(frozen=True)
class _Mark:
    position: int  # events applied
    tracker: DialogueStateTracker
    states: int
    last_ml_action: Optional[dict[str, Any]]
    turn_was_hidden: bool


@dataclass
class _Replay:
    domain: Domain
    omit_unset_slots: bool
    ignore_rule_only_turns: bool
    rule_only_data: Optional[dict[str, Any]]
    tracker: DialogueStateTracker  # the events below applied to a fresh copy
    applied: list[Event] = field(default_factory=list)
    states: list[State] = field(default_factory=list)
    last_ml_action: Optional[dict[str, Any]] = None
    turn_was_hidden: bool = False
    marks: list[_Mark] = field(default_factory=list)

    def step(self, hide_rule_turn: bool) -> None:
        """One pass of the loop in `Domain.states_for_tracker_history`."""
        tr, domain = self.tracker, self.domain
        if self.ignore_rule_only_turns:
            if not self.turn_was_hidden:
                self.last_ml_action = domain._get_prev_action_sub_state(tr)
            if not tr.followup_action and not tr.latest_action_name == tr.active_loop_name:
                self.turn_was_hidden = hide_rule_turn
            if self.turn_was_hidden:
                return
        state = domain.get_active_state(tr, omit_unset_slots=self.omit_unset_slots)
        if self.ignore_rule_only_turns:
            domain._remove_rule_only_features(state, self.rule_only_data)
            if self.states:
                domain._substitute_rule_only_user_input(state, self.states[-1])
            if self.last_ml_action:
                state[PREVIOUS_ACTION] = self.last_ml_action  # type: ignore[assignment]
        self.states.append(domain._clean_state(state))

    def advance(self, events: list[Event]) -> None:
        forms = self.domain.form_names
        for event in events:
            if isinstance(event, ActionExecuted):
                self.step(event.hide_rule_turn)
            self.tracker.update(event)
            self.applied.append(event)
            if isinstance(event, ActionExecuted) and event.action_name in forms:
                self.marks.append(_Mark(len(self.applied), _clone(self.tracker), len(self.states),
                                        self.last_ml_action, self.turn_was_hidden))
                del self.marks[:-KEPT_COPIES]

    def rewind(self, applied: list[Event]) -> bool:
        """Go back to the latest kept copy that `applied` still begins with; False if none."""
        same = 0
        for ours, theirs in zip(self.applied, applied):
            if ours is not theirs:
                break
            same += 1
        if same == len(self.applied):
            return True
        while self.marks and self.marks[-1].position > same:
            self.marks.pop()
        if not self.marks:
            return False
        mark = self.marks[-1]
        self.tracker = _clone(mark.tracker)
        del self.applied[mark.position:]
        del self.states[mark.states:]
        self.last_ml_action, self.turn_was_hidden = mark.last_ml_action, mark.turn_was_hidden
        return True

    def with_final_state(self) -> list[State]:
        """The states plus the one after the last event, without keeping the loop variables
        that last step changes (the next call continues from before it)."""
        kept = len(self.states), self.last_ml_action, self.turn_was_hidden
        self.step(False)
        states = self.states[:]
        del self.states[kept[0]:]
        self.last_ml_action, self.turn_was_hidden = kept[1], kept[2]
        return states


@dataclass
class _Applied:
    """Where `DialogueStateTracker.applied_events` got to: the events it has read, the
    names of the loops among them and its result so far."""

    seen: int
    first: Optional[Event]
    last: Optional[Event]
    loop_names: set[str]
    events: list[Event]


_APPLIED = "_caredesk_applied_events"


def applied_events(self: DialogueStateTracker) -> list[Event]:
    """Rasa's `applied_events`, continued over the events added since the last call when the
    earlier ones are unchanged and no new loop appeared (its rule for a loop's executions
    depends on all the loops the conversation ever names, so a new one means starting over)."""
    events = self.events
    done: Optional[_Applied] = self.__dict__.get(_APPLIED)
    if (done is None or len(events) < done.seen or (done.seen and (events[0] is not done.first
            or events[done.seen - 1] is not done.last))):
        done = None
    new = list(itertools.islice(events, done.seen if done else 0, None))
    new_loops = [e.name for e in new if isinstance(e, ActiveLoop) and e.name]
    if done is None or any(name not in done.loop_names for name in new_loops):
        loop_names = {e.name for e in events if isinstance(e, ActiveLoop) and e.name}
        applied: list[Event] = []
        new = list(events)
    else:
        loop_names, applied = done.loop_names | set(new_loops), list(done.events)
    for event in new:  # the loop of Rasa 3.6.21's `applied_events`
        if isinstance(event, (Restarted, SessionStarted)):
            applied = []
        elif isinstance(event, ActionReverted):
            self._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event, UserUtteranceReverted):
            self._undo_till_previous(UserUttered, applied)
            self._undo_till_previous(ActionExecuted, applied)
        elif (isinstance(event, ActionExecuted) and event.action_name in loop_names
              and not self._first_loop_execution_or_unhappy_path(event.action_name, applied)):
            self._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)
    self.__dict__[_APPLIED] = _Applied(len(events), events[0] if events else None,
                                       events[-1] if events else None, loop_names, applied)
    return list(applied)


def past_states(
    self: DialogueStateTracker, domain: Domain, omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False, rule_only_data: Optional[dict[str, Any]] = None,
) -> list[State]:
    """`DialogueStateTracker.past_states`, continued from the last call on this tracker."""
    applied = self.applied_events()
    # The rule policy passes a new but equal `rule_only_data` dict each time: key on its content.
    only_rules = json.dumps(rule_only_data, sort_keys=True, default=str)
    key = (id(domain), omit_unset_slots, ignore_rule_only_turns, only_rules)
    replays: dict[tuple[Any, ...], _Replay] = self.__dict__.setdefault(_MEMO, {})
    replay = replays.get(key)
    if replay is None or replay.domain is not domain or not replay.rewind(applied):
        replay = replays[key] = _Replay(domain, omit_unset_slots, ignore_rule_only_turns, rule_only_data,
                                        self.init_copy())
    replay.advance(applied[len(replay.applied):])
    # Callers change the states they get (the last user input, for one): give them copies.
    return [{kind: dict(sub) for kind, sub in state.items()} for state in replay.with_final_state()]


RASA_PAST_STATES = DialogueStateTracker.past_states
RASA_APPLIED_EVENTS = DialogueStateTracker.applied_events
