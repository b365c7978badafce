"""The launchers keep secrets off command lines and refuse to open a door without them:
engine/serve.py (Rasa) and actions/serve.py (the action server)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from caredesk.settings import PROJECT_ROOT
from engine.serve import LaunchError, rasa_argv

SECRETS = {"RASA_TOKEN": "api-token", "CAREDESK_CHANNEL_SECRET": "channel", "ACTION_SERVER_TOKEN": "actions"}


def test_rasa_gets_its_api_token_from_the_environment_only() -> None:
    argv = rasa_argv(["run", "--model", "m.tar.gz", "--enable-api"], SECRETS)
    assert argv == ["rasa", "run", "--model", "m.tar.gz", "--enable-api", "--auth-token", "api-token"]


@pytest.mark.parametrize("option", ["--auth-token", "--auth-token=x", "-t", "--jwt-secret"])
def test_a_secret_given_on_the_command_line_is_refused(option: str) -> None:
    with pytest.raises(LaunchError, match="must not be on the command line"):
        rasa_argv(["run", "--enable-api", option, "x"], SECRETS)


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_rasa_does_not_start_without_each_secret(missing: str) -> None:
    environ = {k: v for k, v in SECRETS.items() if k != missing}
    with pytest.raises(LaunchError, match=missing):
        rasa_argv(["run", "--enable-api"], environ)


def test_the_shell_needs_the_channel_and_action_secrets_but_no_api_token() -> None:
    environ = {k: v for k, v in SECRETS.items() if k != "RASA_TOKEN"}
    assert rasa_argv(["shell", "--model", "m.tar.gz"], environ) == ["rasa", "shell", "--model", "m.tar.gz"]
    with pytest.raises(LaunchError, match="CAREDESK_CHANNEL_SECRET"):
        rasa_argv(["shell"], {"ACTION_SERVER_TOKEN": "actions"})


def test_the_action_server_does_not_start_without_its_token() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ACTION_SERVER_TOKEN"}
    done = subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "actions.serve", "--port", "9"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "ACTION_SERVER_TOKEN is not set" in done.stderr


CHANNELS_SNIPPET = """
import sys
from rasa.core.run import create_http_input_channels
from engine.channel import guard_builtin_channels

guard_builtin_channels("channel")
stale = sys.argv[1]
made = {
    "credentials.yml": create_http_input_channels(None, "credentials.yml"),
    "--connector rest": create_http_input_channels("rest", None),
    "stale rest: entry": create_http_input_channels(None, stale),
    "no credentials (cmdline)": create_http_input_channels("cmdline", None),
}
for how, channels in made.items():
    print(how, [type(c).__name__ for c in channels])
"""


def test_rasas_own_channels_are_swapped_for_guarded_ones(tmp_path: Path) -> None:
    """Whichever way Rasa is told to open its REST or cmdline channel, engine.serve's Rasa gets
    the guarded one: credentials.yml, `--connector rest`, a stale `rest:` entry, `rasa shell`."""
    stale = tmp_path / "credentials.yml"
    stale.write_text("rest:\n")
    done = subprocess.run([str(PROJECT_ROOT / ".venv-rasa" / "bin" / "python"), "-c", CHANNELS_SNIPPET, str(stale)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
                          env={**os.environ, **SECRETS, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines == [
        "credentials.yml ['SecretRestInput']",
        "--connector rest ['SecretRestInput']",
        "stale rest: entry ['SecretRestInput']",
        "no credentials (cmdline) ['SecretCmdlineInput']",
    ], done.stdout
