"""The engine speed-ups' switch (engine/startup.py) and the comparison of the conversation
tests' two runs (engine/conversation_tests.py). Reading the switch and comparing results need
no Rasa; what the switch does to Rasa is checked in .venv-rasa (switch_side.py), each way in
its own process."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from caredesk.settings import PROJECT_ROOT
from engine import conversation_tests, startup
from tests.engine.test_engine import RASA_PYTHON

SIDE = Path(__file__).with_name("switch_side.py")


@pytest.mark.parametrize("value, on", [
    (None, True), ("", True), ("on", True), ("ON", True), (" on\n", True), ("off", False), ("Off ", False),
])
def test_the_switch_reads_on_and_off(value: str | None, on: bool) -> None:
    environ = {} if value is None else {startup.SWITCH_ENV: value}
    assert startup.speedups_wanted(environ) is on


@pytest.mark.parametrize("value", ["1", "true", "no", "of", "on off", "fast"])
def test_any_other_value_is_refused_by_name(value: str) -> None:
    with pytest.raises(startup.EngineStartupError) as refused:
        startup.speedups_wanted({startup.SWITCH_ENV: value})
    assert f"CAREDESK_ENGINE_SPEEDUPS={value!r} is not a valid value" in str(refused.value)
    assert "'on'" in str(refused.value) and "'off'" in str(refused.value)


def test_the_refusal_is_no_error_rasas_loader_would_swallow() -> None:
    # Rasa's tracker store loader answers ImportError and AttributeError with an in-memory store.
    assert not issubclass(startup.EngineStartupError, (ImportError, AttributeError))


def test_a_changed_source_is_named_with_both_fingerprints() -> None:
    def rasas() -> int:
        return 1

    recorded = startup.source_fingerprint(rasas)
    name = "tests.engine.test_switch.test_a_changed_source_is_named_with_both_fingerprints"
    actual = startup.source_fingerprint(test_a_changed_source_is_named_with_both_fingerprints)
    assert startup.differences({name: actual}, {}) == []
    (line,) = startup.differences({name: "0" * 64}, {})
    assert line == f"{name} (source SHA-256 {actual[:16]}, written against 0000000000000000)"
    assert startup.differences({"tests.engine.test_switch.no_such_function": recorded}, {})[0].startswith(
        "tests.engine.test_switch.no_such_function (not found: KeyError")
    with pytest.raises(startup.EngineStartupError, match=r"written for Rasa 3\.6\.21, found Rasa 3\.7\.0"):
        startup.check_rasa("3.7.0", "3.6.21", {}, {})


def write_results(directory: Path, failed: str = "# None of the test stories failed - all good!",
                  report: dict[str, object] | None = None) -> Path:
    directory.mkdir()
    (directory / "failed_test_stories.yml").write_text(failed)
    (directory / "successful_test_stories.yml").write_text("stories:\n- story: a\n- story: b\n")
    (directory / "story_report.json").write_text(json.dumps(report or {"utter_a": {"f1-score": 1.0}, "b": 2}))
    (directory / "story_confusion_matrix.png").write_bytes(os.urandom(16))  # a picture: not compared
    return directory


def test_two_runs_that_decided_alike_agree(tmp_path: Path) -> None:
    first = write_results(tmp_path / "on")
    second = write_results(tmp_path / "off", report={"b": 2, "utter_a": {"f1-score": 1.0}})  # key order only
    assert conversation_tests.differences(first, second) == []


def test_a_story_decided_otherwise_is_shown(tmp_path: Path) -> None:
    first = write_results(tmp_path / "on")
    second = write_results(tmp_path / "off", failed="stories:\n- story: b\n  # predicted: utter_x")
    (found,) = conversation_tests.differences(first, second)
    assert "failed_test_stories.yml" in found and "+  # predicted: utter_x" in found
    worse = write_results(tmp_path / "worse", report={"utter_a": {"f1-score": 0.5}, "b": 2})
    assert '"f1-score": 0.5' in conversation_tests.differences(first, worse)[0]
    (worse / "stories_with_warnings.yml").write_text("stories: []")
    assert f"stories_with_warnings.yml: only in {worse}" in conversation_tests.differences(first, worse)
    assert conversation_tests.differences(tmp_path / "none", tmp_path / "nothing") != []


@pytest.mark.parametrize("way", ["stock", "speedups"])
def test_what_the_switch_does_to_rasa(way: str, tmp_path: Path) -> None:
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} is missing: run `make setup`")
    environ = {key: value for key, value in os.environ.items() if key != startup.SWITCH_ENV}
    result = subprocess.run(
        [str(RASA_PYTHON), str(SIDE), way, f"sqlite:///{tmp_path / 'tracker.db'}"], cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=300,
        env={**environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "2",
             "RASA_TELEMETRY_ENABLED": "false"},
    )
    passed = re.findall(r"^ok (\w+)$", result.stdout, flags=re.MULTILINE)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}"
    expected = re.findall(rf'@check\("{way}"\)\ndef (\w+)', SIDE.read_text())
    assert passed == expected and expected, result.stdout
