"""CareDesk's processes as the launcher starts them, in three stages: the action server, then
the Rasa processes (they call the action server), then the gateway (it calls Rasa).

Secrets travel in the environment only, never on a command line (/proc/*/cmdline is readable
by every local user), and each process gets only the ones it needs: the action server its own
token, Rasa all three (engine.serve hands RASA_TOKEN to Rasa inside the process), the gateway
Rasa's token and the channel secret."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from launcher.child import ProcessSpec
from launcher.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_PYTHON = str(PROJECT_ROOT / ".venv" / "bin" / "python")
RASA_PYTHON = str(PROJECT_ROOT / ".venv-rasa" / "bin" / "python")


def _without(environ: Mapping[str, str], *names: str) -> dict[str, str]:
    return {key: value for key, value in environ.items() if key not in names}


def rasa_name(index: int) -> str:
    """rasa, rasa-1, rasa-2 ...: also the name of each one's log file."""
    return "rasa" if index == 0 else f"rasa-{index}"


def _rasa_ports(settings: Settings) -> list[int]:
    return [settings.rasa_port + i for i in range(settings.rasa_processes)]


def rasa_urls(settings: Settings) -> list[str]:
    return [f"http://127.0.0.1:{port}" for port in _rasa_ports(settings)]


RASA_ARGS = ("run", "--model", "models/caredesk.tar.gz", "--endpoints", "endpoints.yml",
             "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--enable-api")


def _rasa_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {**environ, "PYTHONWARNINGS": "ignore"}


def rasa_spare(settings: Settings, environ: Mapping[str, str]) -> ProcessSpec | None:
    """The spare Rasa process (launcher/rasa_spare.py): Rasa's arguments but the port, which it
    reads from its standard input when it takes over; no health URL until then."""
    if not settings.rasa_spare:
        return None
    return ProcessSpec("rasa-spare", (RASA_PYTHON, "-m", "launcher.rasa_spare", *RASA_ARGS), _rasa_env(environ), "")


def caredesk_stages(settings: Settings, environ: Mapping[str, str]) -> list[list[ProcessSpec]]:
    actions = ProcessSpec(
        "actions", (APP_PYTHON, "-m", "actions.serve", "--port", str(settings.action_port)),
        _without(environ, "RASA_TOKEN", "CAREDESK_CHANNEL_SECRET"),
        f"http://127.0.0.1:{settings.action_port}/health",
    )
    rasa = [
        ProcessSpec(
            rasa_name(index), (RASA_PYTHON, "-m", "engine.serve", *RASA_ARGS, "--port", str(port)),
            _rasa_env(environ), f"http://127.0.0.1:{port}/",  # Rasa opens its port once the model is loaded
            spare_port=port,
        )
        for index, port in enumerate(_rasa_ports(settings))
    ]
    gateway_env = {**environ, "RASA_URL": ",".join(rasa_urls(settings)),
                   "GATEWAY_HOST": settings.gateway_host, "GATEWAY_PORT": str(settings.gateway_port)}
    gateway = ProcessSpec(
        "gateway", (APP_PYTHON, "-m", "bot"), _without(gateway_env, "ACTION_SERVER_TOKEN"),
        f"http://127.0.0.1:{settings.gateway_port}/health",
    )
    return [[actions], rasa, [gateway]]


def announcement(spec: ProcessSpec, settings: Settings) -> str:
    """What the terminal says as each process starts (as run.sh always said)."""
    if spec.name == "actions":
        return f"Starting the action server on 127.0.0.1:{settings.action_port} ..."
    if spec.name == "rasa":
        return (f"Starting {settings.rasa_processes} Rasa server process(es) from 127.0.0.1:{settings.rasa_port} "
                "(loading the model takes a little while) ...")
    if spec.name == "gateway":
        return f"Starting the gateway on {settings.gateway_host}:{settings.gateway_port} ..."
    return ""


def banner(settings: Settings, environ: Mapping[str, str]) -> str:
    public = environ.get("GATEWAY_PUBLIC_URL") or f"http://{settings.gateway_host}:{settings.gateway_port}"
    if not environ.get("TELEGRAM_TOKEN"):
        telegram = "off (set TELEGRAM_TOKEN to turn it on; see README)"
    elif environ.get("TELEGRAM_WEBHOOK_URL"):
        telegram = f"on, webhook at {environ['TELEGRAM_WEBHOOK_URL']}"
    else:
        telegram = "on, long polling"
    log = settings.log_dir
    return f"""
CareDesk is running.
  Demo shop with the chat widget: {public}/
  Agent console:                  {public}/console
      (no account yet? in another terminal: make agent USERNAME=dana NAME=Dana)
  Telegram:                       {telegram}
  Chat in a terminal:             make shell
  Rasa server (127.0.0.1 only):   {",".join(rasa_urls(settings))}  (lock store: {settings.lock_store})
  Action server (127.0.0.1 only): http://127.0.0.1:{settings.action_port}
  Logs:                           {log}/gateway.log, {log}/rasa*.log, {log}/actions.log, {log}/supervisor.log
  A process that stops is restarted (see {log}/supervisor.log).
Press Ctrl-C to stop."""
