"""`make bench`: how well CareDesk understands customers, how fast the real stack answers
them end to end (through the gateway and, as a reference, Rasa's raw REST channel), and what
it costs to train, start and run. See docs/benchmark.md.

The package is importable from both environments: `bench.nlu` runs in .venv-rasa (it needs
rasa's Agent); everything else runs in .venv. Modules shared by both use the standard
library only."""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
