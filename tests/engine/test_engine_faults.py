"""The engine when its databases fail (tests/engine/faults_side.py, run in .venv-rasa once
per database backend, like test_engine.py): tracker store retries and errors, lock expiry."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.engine.test_engine import RASA_PYTHON, run_side

SIDE = Path(__file__).with_name("faults_side.py")


@pytest.mark.parametrize("backend", BACKENDS)
def test_engine_fault_checks_pass_in_rasas_environment(backend: str, tmp_path: Path) -> None:
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} is missing: run `make setup`")
    result = run_side(SIDE, backend, tmp_path)
    passed = re.findall(r"^ok (\w+)$", result.stdout, flags=re.MULTILINE)
    expected = re.findall(r"@check\nasync def (\w+)", SIDE.read_text())
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}"
    assert passed == expected and len(passed) >= 5, result.stdout
