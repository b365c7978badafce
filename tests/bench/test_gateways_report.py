"""The two-gateway part of the benchmark report: a lost message or a slow return fails it."""
from bench.gateways import section, targets


def figures(lost: int = 0, back_max: float = 3.6, one: int = 200, two: int = 200) -> dict:
    def cap(n: int) -> dict:
        return {"capacity": n, "max_tried": 200, "steps": [{"customers": n, "p95_ms": 150.0}]}

    return {"layout": "2 Rasa processes", "capacity_one_gateway": cap(one), "capacity_two_gateways": cap(two),
            "gateway_killed": {"customers": 50, "on_killed_gateway": 25, "messages_sent": 700, "lost": lost,
                               "stored_without_answer": 0, "went_to_a_person": 0, "reconnects": 25,
                               "back_p50_s": 1.3, "back_max_s": back_max, "back_within_target": back_max <= 10}}


def test_met_when_nothing_is_lost_and_capacity_holds() -> None:
    assert [met for *_, met in targets(figures())] == [True, True]
    assert "0 lost" in "\n".join(section(figures()))


def test_a_lost_message_a_slow_return_or_lower_capacity_fails() -> None:
    assert [met for *_, met in targets(figures(lost=1))] == [True, False]
    assert [met for *_, met in targets(figures(back_max=12.0))] == [True, False]
    assert [met for *_, met in targets(figures(two=150))] == [False, True]


def test_a_part_that_failed_is_reported_as_not_measured() -> None:
    assert all(not met for *_, met in targets({"error": "RuntimeError: no Redis"}))
    assert "Not measured" in "\n".join(section({"error": "RuntimeError: no Redis"}))
