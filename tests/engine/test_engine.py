"""engine/ runs inside the Rasa server, so its checks run in .venv-rasa (rasa_side.py); this
test runs them there, once per database backend, and needs every check to pass."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from caredesk.settings import PROJECT_ROOT
from tests.conftest import BACKENDS, _admin

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
SIDE = Path(__file__).with_name("rasa_side.py")


def expected_checks() -> list[str]:
    return re.findall(r"@check\nasync def (\w+)", SIDE.read_text())


def run_side(side: Path, backend: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a checks file in Rasa's environment against a fresh database of `backend`."""
    if backend == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'tracker.db'}", None
    else:
        server = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql")
        name = f"caredesk_engine_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(str(os.environ["TEST_DATABASE_URL"]), f'CREATE DATABASE "{name}"'))
        url, drop = server.set(database=name).render_as_string(hide_password=False), name
    try:
        return subprocess.run(
            [str(RASA_PYTHON), str(side), url], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONWARNINGS": "ignore",
                 "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false"},
        )
    finally:
        if drop:
            asyncio.run(_admin(str(os.environ["TEST_DATABASE_URL"]), f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))


@pytest.mark.parametrize("backend", BACKENDS)
def test_engine_checks_pass_in_rasas_environment(backend: str, tmp_path: Path) -> None:
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} is missing: run `make setup`")
    result = run_side(SIDE, backend, tmp_path)
    passed = re.findall(r"^ok (\w+)$", result.stdout, flags=re.MULTILINE)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}"
    assert passed == expected_checks() and len(passed) >= 7, result.stdout
