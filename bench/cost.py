"""Cost: how long the shipped bot takes to train from scratch, and the machine it ran on.

`rasa train --force` writes into a temporary folder, with a temporary Rasa cache, so neither
models/ nor .rasa/cache is touched and no cached component can make training look faster."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import PROJECT_ROOT
from bench.stack import RASA


def train_from_scratch() -> dict[str, Any]:
    """Wall-clock seconds of a full training run, and the size of the model it wrote."""
    with tempfile.TemporaryDirectory(prefix="caredesk-train-") as scratch:
        out, cache, log = Path(scratch) / "models", Path(scratch) / "cache", Path(scratch) / "train.log"
        env = {**os.environ, "RASA_CACHE_DIRECTORY": str(cache), "RASA_TELEMETRY_ENABLED": "false",
               "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
        argv = [str(RASA), "train", "--force", "--config", "config.yml", "--domain", "domain.yml",
                "--data", "data", "--out", str(out), "--fixed-model-name", "bench"]
        with log.open("wb") as handle, tqdm(desc="Cost: rasa train --force", unit="s", file=sys.stderr,
                                            bar_format="{desc}: {n}s elapsed") as bar:
            started = time.monotonic()
            process = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
            while process.poll() is None:
                time.sleep(1)
                bar.update(int(time.monotonic() - started) - bar.n)
            seconds = time.monotonic() - started
        if process.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"rasa train failed ({process.returncode}):\n{tail}")
        model = out / "bench.tar.gz"
        return {"seconds": seconds, "model_mib": model.stat().st_size / 2**20 if model.exists() else None}


def machine() -> dict[str, Any]:
    """Enough about the machine to compare two runs fairly."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True).stdout.strip()
    memory_kib = 0
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {"cores": os.cpu_count(), "memory_gib": round(memory_kib / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform(), "commit": commit or None}
