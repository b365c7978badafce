"""Rasa's conversation tests on the engine as CareDesk's Rasa server runs it, and their two runs
compared.

`rasa test core` loads no endpoints.yml, so no tracker store would start the engine and the
stories would always run on Rasa as shipped. `python -m engine.conversation_tests run <rasa
test core options>` starts it first (engine/startup.py: the speed-ups on or off as
CAREDESK_ENGINE_SPEEDUPS says), then hands over to Rasa's own command line.

`python -m engine.conversation_tests compare DIR DIR` compares two runs' results, as Rasa
wrote them (`--out`): the same result files, and in each the same stories passed, failed or
warned about, with the same predictions and the same per-action report. The plots are
pictures of those figures and are left out. Exits 1 with the first difference of each file.
"""
from __future__ import annotations

import difflib
import json
import logging
import sys
from pathlib import Path

RESULTS = ("*.yml", "*.json")  # what a run wrote that says what it decided


def result_files(directory: Path) -> dict[str, Path]:
    return {path.name: path for pattern in RESULTS for path in sorted(directory.glob(pattern))}


def _comparable(path: Path) -> list[str]:
    """The file's lines; JSON re-written with sorted keys, since key order carries no result."""
    text = path.read_text()
    if path.suffix == ".json":
        text = json.dumps(json.loads(text), indent=2, sort_keys=True)
    return text.splitlines()


def differences(first: Path, second: Path, context_lines: int = 12) -> list[str]:
    """What differs between two runs' results; empty when they agree."""
    ours, theirs = result_files(first), result_files(second)
    found = []
    for name in sorted(ours.keys() ^ theirs.keys()):
        found.append(f"{name}: only in {first if name in ours else second}")
    for name in sorted(ours.keys() & theirs.keys()):
        a, b = _comparable(ours[name]), _comparable(theirs[name])
        if a != b:
            diff = difflib.unified_diff(a, b, str(ours[name]), str(theirs[name]), lineterm="", n=2)
            found.append("\n".join(list(diff)[:context_lines]))
    if not ours and not theirs:
        found.append(f"no results in {first} or {second}")
    return found


def main(argv: list[str]) -> int:
    if argv[:1] == ["compare"] and len(argv) == 3:
        found = differences(Path(argv[1]), Path(argv[2]))
        for difference in found:
            print(difference, file=sys.stderr)
        if not found:
            print(f"conversation tests agree: {argv[1]} and {argv[2]} "
                  f"({len(result_files(Path(argv[1])))} result files)")
        return 1 if found else 0
    if argv[:1] != ["run"]:
        print("usage: python -m engine.conversation_tests run <rasa test core options>\n"
              "       python -m engine.conversation_tests compare RESULTS_DIR RESULTS_DIR", file=sys.stderr)
        return 2
    from engine import startup

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        startup.start()
    except startup.EngineStartupError as error:
        print(f"engine.conversation_tests: {error}", file=sys.stderr)
        return 1
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", "test", "core", *argv[1:]]
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
