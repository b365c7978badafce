"""A Rasa process loaded ahead of need, run with Rasa's Python by the launcher (launcher/spare.py).

Rasa takes about 13 s to load CareDesk's model here (DIET builds its graph by tracing a
training step), too long for the promise that a killed process answers again within 10 s.
So the launcher keeps one spare: `python -m launcher.rasa_spare <engine.serve arguments
without --port>` imports Rasa and loads the model, says SPARE_READY, and waits. When a Rasa
process dies the launcher writes the dead one's port to the spare's standard input; the spare
then runs engine.serve exactly as a fresh process would, except that Rasa's model loader hands
back the model already in memory instead of loading it again. An empty line or end of input
(the launcher stopping or gone) ends it. The port is not secret; the secrets stay in the
environment, as for every Rasa process (engine/serve.py checks them before anything loads)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

SPARE_READY = "launcher: spare ready"


def _preload(model: str) -> None:
    """Load the model now, and make Rasa's loader return it once for that same file."""
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor.__dict__["_load_model"].__func__
    loaded: list[Any] = [original(model)]

    def reuse(model_path: str | Path) -> Any:
        if loaded and Path(model_path).resolve() == Path(model).resolve():
            return loaded.pop()
        return original(model_path)

    MessageProcessor._load_model = staticmethod(reuse)  # type: ignore[method-assign]


def main() -> None:
    from engine.serve import LaunchError, main as serve, rasa_argv

    args = sys.argv[1:]
    try:
        rasa_argv([*args, "--port", "0"], os.environ)  # the secrets are there: fail now, not later
        model = args[args.index("--model") + 1]
    except (LaunchError, ValueError, IndexError) as error:
        sys.exit(f"launcher.rasa_spare: {error}")
    _preload(model)
    print(SPARE_READY, flush=True)
    port = sys.stdin.readline().strip()
    if not port:
        return
    sys.argv = ["engine.serve", *args, "--port", port]
    serve()


if __name__ == "__main__":
    main()
