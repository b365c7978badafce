"""Where the action server listens (actions/serve.py bind_host): 127.0.0.1 unless
ACTION_SERVER_HOST explicitly names a loopback or private-network address, as a container
deployment must (docker-compose.yml); wildcards and public addresses are refused."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from actions.serve import HOST_ENV, bind_host
from caredesk.settings import PROJECT_ROOT


def _resolver(table: dict[str, list[str]]) -> Callable[[str], list[str]]:
    return lambda host: table[host]


def test_unset_means_loopback_only() -> None:
    assert bind_host({}) == "127.0.0.1"
    assert bind_host({HOST_ENV: "  "}) == "127.0.0.1"


@pytest.mark.parametrize("host", ["127.0.0.2", "::1", "172.18.0.5", "10.0.3.4", "192.168.10.2", "fd12::7"])
def test_a_loopback_or_private_address_is_taken_when_set(host: str) -> None:
    assert bind_host({HOST_ENV: host}) == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "8.8.8.8", "2001:4860::8888", "224.0.0.1"])
def test_a_wildcard_or_public_address_is_refused(host: str) -> None:
    with pytest.raises(SystemExit, match=HOST_ENV):
        bind_host({HOST_ENV: host})


def test_a_name_must_resolve_to_private_addresses_only() -> None:
    resolve = _resolver({"actions": ["172.20.0.4"], "mixed": ["172.20.0.4", "8.8.4.4"]})
    assert bind_host({HOST_ENV: "actions"}, resolve) == "actions"
    with pytest.raises(SystemExit, match="8.8.4.4"):
        bind_host({HOST_ENV: "mixed"}, resolve)


def test_a_name_that_does_not_resolve_stops_the_server() -> None:
    with pytest.raises(SystemExit, match="does not resolve"):
        bind_host({HOST_ENV: "no-such-host.invalid"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def action_server_on_127_0_0_2() -> Iterator[int]:
    port = _free_port()
    env = {**os.environ, "ACTION_SERVER_TOKEN": secrets.token_urlsafe(16), HOST_ENV: "127.0.0.2"}
    process = subprocess.Popen([str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "actions.serve",
                                "--port", str(port)], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_the_real_server_listens_where_the_setting_says_and_nowhere_else(action_server_on_127_0_0_2: int) -> None:
    port = action_server_on_127_0_0_2
    deadline = time.monotonic() + 60
    while not _answers(f"http://127.0.0.2:{port}/health"):
        assert time.monotonic() < deadline, "the action server did not answer on 127.0.0.2"
        time.sleep(0.2)
    assert not _answers(f"http://127.0.0.1:{port}/health")


def test_the_real_server_refuses_a_wildcard() -> None:
    env = {**os.environ, "ACTION_SERVER_TOKEN": "x", HOST_ENV: "0.0.0.0"}
    done = subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "actions.serve", "--port", "9"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "not a loopback or private-network address" in done.stderr
