"""The benchmark's arithmetic: percentiles, scores and the fallback threshold sweep."""
import math

import pytest

from bench.metrics import Scored, macro_f1, percentile, predicted_at, threshold_sweep, thresholds, top_confusions
from bench.settings import capacity_levels


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    values = [40.0, 10.0, 30.0, 20.0]
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)
    assert math.isnan(percentile([], 50)), "no answers must never look fast"


def test_scores_and_confusions() -> None:
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "nlu_fallback")]
    assert macro_f1(pairs) == pytest.approx((2 / 3 + 1 / 2) / 2)  # a: P 1, R 1/2; b: P 1/2, R 1/2
    assert top_confusions(pairs) == [("a", "b", 1), ("b", "nlu_fallback", 1)]


def test_sweep_follows_the_fallback_classifier_rule() -> None:
    confident = Scored("track_order", "track_order", 0.7, 0.1, "track_order")
    close_call = Scored("track_order", "track_order", 0.7, 0.65, "nlu_fallback")
    outside = Scored("out_of_scope", "get_refund", 0.45, 0.2, "nlu_fallback")
    assert predicted_at(confident, 0.5, 0.1) == "track_order"
    assert predicted_at(close_call, 0.5, 0.1) == "nlu_fallback", "ambiguous top two fall back"
    rows = threshold_sweep([confident, close_call], [outside], [0.4, 0.5, 0.8], ambiguity=0.1)
    assert [(r["in_scope_accuracy"], r["oos_fallback_share"]) for r in rows] == [(0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
    assert thresholds()[0] == 0.3 and thresholds()[-1] == 0.8 and len(thresholds()) == 11


def test_capacity_levels_stop_at_the_cap() -> None:
    assert capacity_levels(400) == [25, 50, 100, 150, 200, 300, 400]
    assert capacity_levels(10) == [10]
