"""Pure arithmetic of the benchmark: percentiles, classification scores and the fallback
threshold sweep. Standard library only, so .venv-rasa (NLU) and .venv (load) share it and
the unit tests need no server."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks, as
    numpy's default; NaN for no values (so an empty level never looks fast)."""
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies_ms, 50),
        "p95_ms": percentile(latencies_ms, 95),
        "p99_ms": percentile(latencies_ms, 99),
        "mean_ms": sum(latencies_ms) / len(latencies_ms) if latencies_ms else math.nan,
        "max_ms": max(latencies_ms) if latencies_ms else math.nan,
    }


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either is missing or the denominator is zero."""
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def accuracy(pairs: Sequence[tuple[str, str]]) -> float:
    """Share of (true, predicted) pairs that agree."""
    return sum(true == pred for true, pred in pairs) / len(pairs) if pairs else math.nan


def macro_f1(pairs: Sequence[tuple[str, str]]) -> float:
    """Unweighted mean of per-label F1 over the labels of the gold standard; predictions of
    any other intent (fallback, greet, ...) count as false positives of nothing and false
    negatives of their true label."""
    labels = sorted({true for true, _ in pairs})
    if not labels:
        return math.nan
    tp = Counter(true for true, pred in pairs if true == pred)
    gold = Counter(true for true, _ in pairs)
    predicted = Counter(pred for _, pred in pairs)
    scores = []
    for label in labels:
        precision = tp[label] / predicted[label] if predicted[label] else 0.0
        recall = tp[label] / gold[label]
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def top_confusions(pairs: Iterable[tuple[str, str]], n: int = 10) -> list[tuple[str, str, int]]:
    """The n most frequent (true, predicted, count) mistakes, most frequent first."""
    mistakes = Counter((true, pred) for true, pred in pairs if true != pred)
    ordered = sorted(mistakes.items(), key=lambda item: (-item[1], item[0]))
    return [(true, pred, count) for (true, pred), count in ordered[:n]]


@dataclass(frozen=True)
class Scored:
    """One parsed utterance, reduced to what the fallback decision needs: the gold label, the
    best and second-best classifier intents (the FallbackClassifier's own entry removed),
    their confidences, and the intent the shipped pipeline finally predicted."""

    label: str
    top: str
    top_confidence: float
    second_confidence: float
    final: str


def predicted_at(item: Scored, threshold: float, ambiguity: float) -> str:
    """What the FallbackClassifier would predict at `threshold`: nlu_fallback when the best
    confidence is below it or the best two are closer than `ambiguity` (Rasa 3.6's rule)."""
    if item.top_confidence < threshold or item.top_confidence - item.second_confidence < ambiguity:
        return "nlu_fallback"
    return item.top


def thresholds(start: float = 0.30, stop: float = 0.80, step: float = 0.05) -> list[float]:
    count = int(round((stop - start) / step)) + 1
    return [round(start + i * step, 4) for i in range(count)]


def threshold_sweep(
    in_scope: Sequence[Scored],
    out_of_scope: Sequence[Scored],
    values: Sequence[float],
    ambiguity: float,
) -> list[dict[str, float]]:
    """In-scope accuracy and out-of-scope fallback share at each threshold, recomputed from
    the classifier's confidences (no re-parsing)."""
    rows = []
    for value in values:
        right = [predicted_at(s, value, ambiguity) == s.label for s in in_scope]
        falls = [predicted_at(s, value, ambiguity) in FALLBACK_INTENTS for s in out_of_scope]
        rows.append({
            "threshold": value,
            "in_scope_accuracy": sum(right) / len(right) if right else math.nan,
            "oos_fallback_share": sum(falls) / len(falls) if falls else math.nan,
        })
    return rows
