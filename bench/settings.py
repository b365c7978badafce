"""The benchmark's knobs, read from the environment once (standard library only, so both
environments can import it)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from bench import PROJECT_ROOT

DEFAULT_LEVELS = (1, 10, 50)
# Concurrent customers tried for capacity, smallest first; kept up to BENCH_CAPACITY_MAX.
CAPACITY_STEPS = (25, 50, 100, 150, 200, 300)


def _ints(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    if not values or min(values) < 1:
        raise ValueError(f"expected positive integers separated by commas, got {text!r}")
    return values


def capacity_levels(cap: int) -> list[int]:
    """25, 50, 100, 150, 200, 300, then every 100, never above `cap` (and `cap` itself when
    it is below the first step, so a quick run still measures something)."""
    steps = [n for n in CAPACITY_STEPS if n <= cap]
    nxt = 400
    while nxt <= cap:
        steps.append(nxt)
        nxt += 100
    return steps or [cap]


def find_eval_dir(environ: Mapping[str, str] = os.environ, root: Path = PROJECT_ROOT) -> Path:
    """The held-out evaluation files: ../shared/eval beside the repository, else $EVAL_DIR."""
    beside = (root / ".." / "shared" / "eval").resolve()
    if (beside / "bitext_dev.csv").exists():
        return beside
    if environ.get("EVAL_DIR"):
        return Path(environ["EVAL_DIR"]).resolve()
    raise FileNotFoundError(f"no evaluation data at {beside}; set EVAL_DIR to the folder with bitext_dev.csv")


@dataclass(frozen=True)
class BenchSettings:
    levels: tuple[int, ...]
    seconds: float
    capacity_max: int
    skip_train: bool
    think_seconds: float
    capacity_p95_ms: float
    turn_timeout: float
    out_dir: Path
    model: Path
    rasa_processes: int | None  # None: 2 when Redis answers (for the shared locks), else 1
    postgres_url: str | None  # a PostgreSQL server for a scratch database; None: SQLite files

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "BenchSettings":
        return cls(
            levels=_ints(environ.get("BENCH_LEVELS") or ",".join(map(str, DEFAULT_LEVELS))),
            seconds=float(environ.get("BENCH_SECONDS") or 30),
            capacity_max=int(environ.get("BENCH_CAPACITY_MAX") or 400),
            skip_train=(environ.get("BENCH_SKIP_TRAIN") or "0").strip().lower() in ("1", "true", "yes"),
            think_seconds=float(environ.get("BENCH_THINK_SECONDS") or 3),
            capacity_p95_ms=300.0,
            turn_timeout=float(environ.get("BENCH_TURN_TIMEOUT") or 30),
            out_dir=PROJECT_ROOT / "var" / "bench",
            model=PROJECT_ROOT / "models" / "caredesk.tar.gz",
            rasa_processes=int(environ["BENCH_RASA_PROCESSES"]) if environ.get("BENCH_RASA_PROCESSES") else None,
            postgres_url=_postgres(environ),
        )


def _postgres(environ: Mapping[str, str]) -> str | None:
    """BENCH_POSTGRES_URL (`none` for SQLite), else TEST_DATABASE_URL, else the project
    machines' local server when it answers."""
    chosen = environ.get("BENCH_POSTGRES_URL") or environ.get("TEST_DATABASE_URL") or ""
    if chosen.lower() == "none":
        return None
    if chosen:
        return chosen
    from bench.stack import answers_tcp  # standard library only, like this module

    return "postgresql://postgres@127.0.0.1:5432/postgres" if answers_tcp("127.0.0.1", 5432) else None
