"""Checks of the engine's switch (engine/startup.py), run in .venv-rasa, each way in a fresh
process because the engine starts once per process: `python switch_side.py stock|speedups DB_URL`.
tests/engine/test_switch.py runs both and expects every check of that way on stdout.

Rasa's tracker store is made as Rasa makes it at start-up (`TrackerStore.create` from an
endpoints entry), so an error must come through Rasa's loader, which turns an ImportError or
AttributeError into a silent in-memory store. Whether Rasa was changed is read from every
attribute of every Rasa module and class loaded, before and after."""
from __future__ import annotations

import gc
import logging
import os
import re
import sys
import types
from typing import Any, Callable

import rasa
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.tracker_store import FailSafeTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from engine import patched_sources, startup
from engine.tracker_store import CachedSQLTrackerStore

DOMAIN = Domain.from_yaml('version: "3.1"\nintents: [greet]\n')
ALWAYS_PATCHED = {(FailSafeTrackerStore, name) for name in  # engine/tracker_store.py, whatever the switch
                  ("retrieve", "retrieve_full_tracker", "save", "_caredesk_passes_errors")}
CHECKS: dict[str, list[Callable[[str], None]]] = {"stock": [], "speedups": []}
said: list[str] = []


class Said(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        said.append(record.getMessage())


logging.getLogger("engine.startup").addHandler(Said())
logging.getLogger("engine.startup").setLevel(logging.INFO)


def check(way: str) -> Callable[[Callable[[str], None]], Callable[[str], None]]:
    def register(fn: Callable[[str], None]) -> Callable[[str], None]:
        CHECKS[way].append(fn)
        return fn

    return register


def rasa_now() -> dict[tuple[Any, str], int]:
    """The identity of every attribute of every loaded Rasa module and of each class in them."""
    seen: dict[tuple[Any, str], int] = {}
    for name, module in list(sys.modules.items()):
        if not (name == "rasa" or name.startswith("rasa.")) or module is None:
            continue
        for attr, value in list(vars(module).items()):
            seen[(module, attr)] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for cls_attr, cls_value in list(vars(value).items()):
                    seen[(value, cls_attr)] = id(cls_value)
    return seen


def changed_since(before: dict[tuple[Any, str], int]) -> set[tuple[Any, str]]:
    after = rasa_now()
    return {key for key, ident in after.items() if key in before and before[key] != ident} | {
        key for key in after.keys() - before.keys() if not isinstance(key[0], types.ModuleType)
        and key[0] in {owner for owner, _ in before}}


def store(url: str) -> TrackerStore:
    """The tracker store as Rasa makes it from endpoints.yml."""
    return TrackerStore.create(EndpointConfig(type="engine.tracker_store.CachedSQLTrackerStore", url=url),
                               domain=DOMAIN)


def refused(url: str, *expected: str) -> str:
    try:
        made = store(url)
    except startup.EngineStartupError as error:
        message = str(error)
    else:
        raise AssertionError(f"Rasa started with {type(made).__name__}; expected a refusal naming {expected}")
    for part in expected:
        assert part in message, (part, message)
    return message


for target in patched_sources.WRITTEN_AGAINST:  # load every Rasa module the speed-ups touch
    startup.locate(target, {})
BEFORE = rasa_now()


@check("stock")
def an_invalid_switch_stops_rasas_start_with_its_name(url: str) -> None:
    os.environ[startup.SWITCH_ENV] = "fast"
    refused(url, "CAREDESK_ENGINE_SPEEDUPS='fast'", "'on'", "'off'")
    assert not changed_since(BEFORE) and "engine.speedups" not in sys.modules


@check("stock")
def another_rasa_version_stops_the_start(url: str) -> None:
    os.environ[startup.SWITCH_ENV] = "on"
    shipped, rasa.__version__ = rasa.__version__, "3.6.22"
    try:
        refused(url, "Rasa 3.6.21", "found Rasa 3.6.22", "CAREDESK_ENGINE_SPEEDUPS=off")
    finally:
        rasa.__version__ = shipped
    assert not changed_since(BEFORE) and "engine.speedups" not in sys.modules


@check("stock")
def a_changed_function_stops_the_start_naming_it(url: str) -> None:
    shipped = vars(RulePolicy)["_get_possible_keys"]

    def _get_possible_keys(self: RulePolicy, lookup: dict[str, str], states: list[Any]) -> set[str]:
        return set(lookup)  # as a later Rasa might have it

    RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[method-assign]
    try:
        message = refused(url, "rasa.core.policies.rule_policy.RulePolicy._get_possible_keys", "differ",
                          "CAREDESK_ENGINE_SPEEDUPS=off")
        assert "1 patched or followed function(s)" in message, message
        original = startup.source_fingerprint(shipped)
        assert original == patched_sources.WRITTEN_AGAINST[
            "rasa.core.policies.rule_policy.RulePolicy._get_possible_keys"], "Rasa's own passes"
    finally:
        RulePolicy._get_possible_keys = shipped  # type: ignore[method-assign]
    assert not changed_since(BEFORE) and "engine.speedups" not in sys.modules


@check("stock")
def switched_off_rasa_runs_as_shipped(url: str) -> None:
    os.environ[startup.SWITCH_ENV] = " OFF "
    thresholds = gc.get_threshold()
    made = store(url)
    assert isinstance(made, CachedSQLTrackerStore), type(made)
    store(url)  # a second store starts nothing again
    assert said == ["engine speed-ups off (CAREDESK_ENGINE_SPEEDUPS=off): Rasa runs as shipped"], said
    assert changed_since(BEFORE) == ALWAYS_PATCHED, changed_since(BEFORE) - ALWAYS_PATCHED
    assert not {"engine.speedups", "engine.states", "engine.inference", "engine.memory"} & set(sys.modules)
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == 0


def dotted(owner: Any, name: str) -> str:
    """The name engine/patched_sources.py records a patched attribute under."""
    if isinstance(owner, types.ModuleType):
        return owner.__name__  # a module's `copy`: the whole module's source
    return f"{owner.__module__}.{owner.__qualname__}.{name}"


@check("speedups")
def switched_on_every_patch_is_of_a_recorded_source(url: str) -> None:
    os.environ.pop(startup.SWITCH_ENV, None)  # the default
    assert isinstance(store(url), CachedSQLTrackerStore)
    store(url)
    from engine import speedups

    patched = changed_since(BEFORE) - ALWAYS_PATCHED
    assert patched == set(speedups._ORIGINALS), patched ^ set(speedups._ORIGINALS)
    assert len(said) == 1 and re.fullmatch(
        rf"engine speed-ups on \(CAREDESK_ENGINE_SPEEDUPS=on\): {len(patched)} fixes in Rasa 3\.6\.21", said[0]), said
    missing = {dotted(*key) for key in patched} - set(patched_sources.WRITTEN_AGAINST)
    assert not missing, f"patched without a recorded source: {missing}"
    assert startup.differences(patched_sources.WRITTEN_AGAINST, speedups._ORIGINALS) == []
    speedups.uninstall()
    assert changed_since(BEFORE) == ALWAYS_PATCHED, "uninstall gives Rasa as shipped back"


def main(way: str, url: str) -> None:
    for fn in CHECKS[way]:
        fn(url)
        print(f"ok {fn.__name__}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
