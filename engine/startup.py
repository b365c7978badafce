"""The one place where CareDesk changes Rasa inside the Rasa process, and its switch.

`CAREDESK_ENGINE_SPEEDUPS` (`on`, the default, or `off`) says whether the fixes of Rasa's hot
spots in engine/speedups.py (with engine/states.py, engine/inference.py and engine/memory.py)
are installed. Switched off, Rasa runs exactly as shipped: nothing of those modules is
patched in. Switched on, they are installed only into the Rasa they were written and checked
against: another Rasa version, or a patched (or closely followed) function whose source
differs from what the fixes were written against, stops the start with EngineStartupError
naming what differs, instead of changing a Rasa nobody checked them with.

`start()` is called when Rasa creates CareDesk's tracker store from endpoints.yml (the only
way into Rasa's process that open-source Rasa offers: engine/tracker_store.py), and by
`python -m engine.conversation_tests` (Rasa's conversation tests load no endpoints.yml).
It runs once per process and logs one INFO line saying which way it went.

What engine/ changes in Rasa, whatever the switch says: the tracker store's errors pass
through Rasa's FailSafeTrackerStore (engine/tracker_store.py: a failed load is an error, not
a new conversation), and `engine.serve` swaps Rasa's `rest` and `cmdline` channels for ones
behind the channel secret (engine/channel.py). Those are correctness and security, not speed.

This module imports only the standard library at the top, so the app's Python can read the
switch too; Rasa and the fixes are imported only when the switch is on.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import os
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

SWITCH_ENV = "CAREDESK_ENGINE_SPEEDUPS"
VALUES = {"on": True, "off": False}
DEFAULT = "on"

_started: bool | None = None  # what start() did in this process, once it has run


class EngineStartupError(RuntimeError):
    """The engine cannot start as configured. A RuntimeError on purpose: Rasa's tracker store
    loader turns an ImportError or AttributeError into a silent in-memory store."""


def speedups_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """The switch: unset or empty means the default; case and spaces around do not matter."""
    raw = environ.get(SWITCH_ENV, "")
    value = raw.strip().lower() or DEFAULT
    if value not in VALUES:
        raise EngineStartupError(f"{SWITCH_ENV}={raw!r} is not a valid value: use 'on' (the default) "
                                 f"to install the engine speed-ups, or 'off' to run on Rasa as shipped")
    return VALUES[value]


def source_fingerprint(obj: Any) -> str:
    """SHA-256 of the source text of a function, method or module."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()


def locate(dotted: str, originals: Mapping[tuple[Any, str], Any]) -> Any:
    """The module, or Rasa's own attribute, a dotted name means (Rasa's original even after
    it was patched: `originals` maps (owner, name) to it)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            owner = found
            found = originals.get((owner, name), vars(owner)[name])
        return found
    raise ImportError(f"no module in {dotted}")


def differences(written_against: Mapping[str, str], originals: Mapping[tuple[Any, str], Any]) -> list[str]:
    """One line for each function or module whose source is not the one the fixes were written
    against (or that is missing)."""
    found = []
    for dotted, expected in written_against.items():
        try:
            actual = source_fingerprint(locate(dotted, originals))
        except (ImportError, KeyError, OSError, TypeError) as error:
            found.append(f"{dotted} (not found: {type(error).__name__}: {error})")
            continue
        if actual != expected:
            found.append(f"{dotted} (source SHA-256 {actual[:16]}, written against {expected[:16]})")
    return found


def check_rasa(version: str, tested: str, written_against: Mapping[str, str],
               originals: Mapping[tuple[Any, str], Any]) -> None:
    """Raise EngineStartupError unless Rasa is the version and source the fixes were written for."""
    advice = f"Install Rasa {tested} (requirements-rasa.txt) or set {SWITCH_ENV}=off to run on Rasa as shipped."
    if version != tested:
        raise EngineStartupError(f"engine speed-ups ({SWITCH_ENV}=on) were written for Rasa {tested}, "
                                 f"found Rasa {version}. {advice}")
    changed = differences(written_against, originals)
    if changed:
        raise EngineStartupError(f"engine speed-ups ({SWITCH_ENV}=on) were written against Rasa {tested}'s "
                                 f"source, and {len(changed)} patched or followed function(s) differ in this Rasa: "
                                 f"{'; '.join(changed)}. {advice}")


def start(environ: Mapping[str, str] = os.environ) -> bool:
    """Install the speed-ups if the switch is on (checking Rasa first); returns whether they
    are on. Runs once per process: later calls return the first call's answer."""
    global _started
    if _started is not None:
        return _started
    if not speedups_wanted(environ):
        logger.info("engine speed-ups off (%s=off): Rasa runs as shipped", SWITCH_ENV)
        _started = False
        return False
    import rasa

    from engine import patched_sources

    check_rasa(rasa.__version__, patched_sources.TESTED_RASA, patched_sources.WRITTEN_AGAINST, {})
    try:
        from engine import speedups
    except ImportError as error:  # Rasa's loader would hide it behind an in-memory store
        raise EngineStartupError(f"engine speed-ups could not be imported: {error}") from error
    patched = speedups.install()
    logger.info("engine speed-ups on (%s=on): %d fixes in Rasa %s", SWITCH_ENV, patched, rasa.__version__)
    _started = True
    return True
