"""Understanding: parse the held-out evaluation sets with the shipped model and score them.

Runs in .venv-rasa (`.venv-rasa/bin/python -m bench.nlu [--out FILE]`) because it loads the
model with rasa's Agent, exactly as the Rasa server does, so the FallbackClassifier's final
decision is the one customers get. Only aggregates leave this module: the eval sentences are
never printed or written."""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench import PROJECT_ROOT
from bench.metrics import (
    FALLBACK_INTENTS, Scored, accuracy, macro_f1, predicted_at, threshold_sweep, thresholds,
    top_confusions,
)
from bench.settings import find_eval_dir

IN_SCOPE_FILE = "bitext_dev.csv"
OOS_FILE = "clinc150_oos_dev.csv"


def fallback_config(config_file: Path = PROJECT_ROOT / "config.yml") -> tuple[float, float]:
    """The shipped FallbackClassifier's threshold and ambiguity threshold (Rasa's defaults
    when a key is absent)."""
    import yaml

    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    for component in config.get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", 0.3)), float(component.get("ambiguity_threshold", 0.1))
    raise ValueError(f"{config_file} has no FallbackClassifier")


def read_eval(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def scored(parse: dict[str, Any], label: str) -> Scored:
    """Reduce one parse result to the fields the scores and the sweep need."""
    ranking: list[dict[str, Any]] = [
        r for r in parse.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"
    ]
    top: dict[str, Any] = ranking[0] if ranking else {"name": "nlu_fallback", "confidence": 0.0}
    second = float(ranking[1]["confidence"]) if len(ranking) > 1 else 0.0
    final = (parse.get("intent") or {}).get("name") or "nlu_fallback"
    return Scored(label, str(top["name"]), float(top["confidence"]), second, str(final))


def _quiet_rasa() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    logging.disable(logging.WARNING)
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


async def parse_all(model: Path, sets: dict[str, list[tuple[str, str]]]) -> tuple[dict[str, list[Scored]], float]:
    """Parse every utterance; returns the scored sets and the mean parse time in ms."""
    from rasa.core.agent import load_agent
    from tqdm import tqdm

    agent = await load_agent(model_path=str(model))
    results: dict[str, list[Scored]] = {}
    elapsed, count = 0.0, 0
    total = sum(len(rows) for rows in sets.values())
    with tqdm(total=total, desc="NLU: parsing eval sets", unit="utt", file=sys.stderr) as bar:
        for name, rows in sets.items():
            results[name] = []
            for text, label in rows:
                started = time.perf_counter()
                parse = await agent.parse_message(text)
                elapsed += time.perf_counter() - started
                count += 1
                results[name].append(scored(parse, label))
                bar.update()
    return results, 1000 * elapsed / max(count, 1)


def evaluate(in_scope: list[Scored], oos: list[Scored], threshold: float, ambiguity: float) -> dict[str, Any]:
    """Every understanding figure, from the final predictions and from the confidences."""
    final_pairs = [(s.label, s.final) for s in in_scope]
    sweep = threshold_sweep(in_scope, oos, thresholds(), ambiguity)
    for row in sweep:
        row["shipped"] = abs(row["threshold"] - threshold) < 1e-9
    oos_counter: dict[str, int] = {}
    for s in oos:
        if s.final not in FALLBACK_INTENTS:
            oos_counter[s.final] = oos_counter.get(s.final, 0) + 1
    return {
        "in_scope_examples": len(in_scope),
        "oos_examples": len(oos),
        "labels": len({s.label for s in in_scope}),
        "shipped_threshold": threshold,
        "ambiguity_threshold": ambiguity,
        "in_scope_accuracy": accuracy(final_pairs),
        "in_scope_macro_f1": macro_f1(final_pairs),
        "in_scope_fallback_share": sum(s.final in FALLBACK_INTENTS for s in in_scope) / len(in_scope),
        "top1_accuracy_without_fallback": accuracy([(s.label, s.top) for s in in_scope]),
        "oos_fallback_share": sum(s.final in FALLBACK_INTENTS for s in oos) / len(oos),
        "oos_answered_as": dict(sorted(oos_counter.items(), key=lambda kv: -kv[1])[:10]),
        "top_confusions": [
            {"true": t, "predicted": p, "count": n} for t, p, n in top_confusions(final_pairs, 10)
        ],
        "threshold_sweep": sweep,
        # The sweep recomputes the fallback rule; at the shipped threshold it must reproduce
        # the model's own final predictions (1.0), or the sweep is not to be trusted.
        "sweep_agrees_with_model": sum(
            predicted_at(s, threshold, ambiguity) == s.final for s in in_scope + oos
        ) / len(in_scope + oos),
    }


def run(model: Path) -> dict[str, Any]:
    eval_dir = find_eval_dir()
    threshold, ambiguity = fallback_config()
    sets = {IN_SCOPE_FILE: read_eval(eval_dir / IN_SCOPE_FILE), OOS_FILE: read_eval(eval_dir / OOS_FILE)}
    started = time.perf_counter()
    results, parse_ms = asyncio.run(parse_all(model, sets))
    report = evaluate(results[IN_SCOPE_FILE], results[OOS_FILE], threshold, ambiguity)
    report.update(eval_dir=str(eval_dir), mean_parse_ms=parse_ms, seconds=time.perf_counter() - started)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu", description=__doc__)
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models" / "caredesk.tar.gz")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here (default: print them)")
    args = parser.parse_args()
    _quiet_rasa()
    report = run(args.model)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)


if __name__ == "__main__":
    main()
