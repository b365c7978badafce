"""The paired one-customer overhead: pairs on the same Rasa process, medians of differences."""
import pytest

from bench.clients import Turn
from bench.paired import figures, raw_sender_on
from bench.report import targets
from bot.rasa_client import engine_index


def test_raw_sender_lands_on_the_gateway_conversations_process() -> None:
    for engine in (0, 1, 2):
        for _ in range(20):
            assert engine_index(raw_sender_on(engine, 3), 3) == engine


def pair(raw_ms: float, gateway_ms: float) -> tuple[Turn, Turn]:
    return Turn(0.0, raw_ms), Turn(0.0, gateway_ms)


def test_overhead_is_the_median_of_per_pair_differences_not_of_medians() -> None:
    # Rasa drifts from 20 to 60 ms; the gateway adds 3-5 ms to each turn.
    pairs = [pair(20, 23), pair(21, 25), pair(60, 64), pair(58, 63), pair(40, 43)]
    found = figures(pairs, failed=1)
    assert found["pairs"] == 5 and found["failed_pairs"] == 1
    assert found["overhead_p50_ms"] == pytest.approx(4.0)
    assert (found["overhead_p25_ms"], found["overhead_p75_ms"]) == (pytest.approx(3.0), pytest.approx(4.0))
    assert found["raw_p50_ms"] == 40 and found["gateway_p50_ms"] == 43


def test_target_row_uses_the_pairs_and_still_shows_the_block_difference() -> None:
    level = {"customers": 1, "gateway": {"p50_ms": 50.0, "own_p50_ms": 4.2, "throughput_msg_s": 10.0},
             "raw": {"p50_ms": 41.0, "throughput_msg_s": 11.0}}
    results = {"speed": {"closed_loop": [level], "paired_one_customer": figures([pair(40, 44), pair(42, 45)], 0)}}
    [row] = [t for t in targets(results) if t.name.startswith("Gateway overhead")]
    assert row.status == "met" and row.value.startswith("3.50 ms") and "block difference 9.0 ms" in row.value
    results["speed"]["paired_one_customer"] = figures([pair(40, 47), pair(42, 48)], 0)
    [row] = [t for t in targets(results) if t.name.startswith("Gateway overhead")]
    assert row.status == "missed"
