"""`make bench` (`.venv/bin/python -m bench`): understanding, speed and cost, then the report.

The NLU part runs in .venv-rasa as a subprocess (it needs rasa's Agent); training is timed
before the stack starts so the two never share the two cores. A part that fails is reported as
not measured, the other parts still run, and the exit status says something failed."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable

from bench import PROJECT_ROOT
from bench.cost import machine, train_from_scratch
from bench.flood import run_flood
from bench.gateways import run_gateways
from bench.load import run_speed
from bench.report import write
from bench.settings import BenchSettings

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"


def understanding(settings: BenchSettings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="caredesk-nlu-") as scratch:
        out = Path(scratch) / "nlu.json"
        # Rasa's dependencies warn at import about things CareDesk cannot change.
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "2"}
        subprocess.run([str(RASA_PYTHON), "-m", "bench.nlu", "--model", str(settings.model), "--out", str(out)],
                       cwd=PROJECT_ROOT, env=env, check=True)
        figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return figures


def _part(name: str, results: dict[str, Any], run: Callable[[], dict[str, Any]]) -> bool:
    print(f"\n== {name}", file=sys.stderr, flush=True)
    try:
        results[name] = run()
        return True
    except Exception as error:  # one broken part must not hide the others' figures
        traceback.print_exc()
        results[name] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
        return False


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = BenchSettings.from_env()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {"timestamp": stamp, "machine": machine()}
    only = os.environ.get("BENCH_ONLY", "").strip().lower()
    if only in ("flood", "gateways"):
        ok = _part(only, results, lambda: (run_flood if only == "flood" else run_gateways)(settings))
        path, summary = write(results, settings.out_dir)
        print("\n" + summary)
        print(f"Figures: {path}  (summary: {path.with_suffix('.md')})")
        if not ok:
            sys.exit(f"The {only} part failed; see above.")
        return
    ok = _part("understanding", results, lambda: understanding(settings))
    if settings.skip_train:
        results["training"] = {"error": "skipped (BENCH_SKIP_TRAIN=1)"}
    else:
        ok &= _part("training", results, train_from_scratch)
    ok &= _part("speed", results, lambda: run_speed(settings))
    ok &= _part("flood", results, lambda: run_flood(settings))
    ok &= _part("gateways", results, lambda: run_gateways(settings))
    path, summary = write(results, settings.out_dir)
    print("\n" + summary)
    print(f"Figures: {path}  (summary: {path.with_suffix('.md')})")
    if not ok:
        sys.exit("Some parts of the benchmark failed; see above.")


if __name__ == "__main__":
    main()
