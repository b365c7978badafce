from launcher.backoff import Backoff


def test_first_restart_is_at_once_then_doubling_up_to_thirty_seconds() -> None:
    backoff = Backoff()
    assert [backoff.delay(uptime=2) for _ in range(9)] == [0, 1, 2, 4, 8, 16, 30, 30, 30]


def test_a_minute_up_resets_the_back_off() -> None:
    backoff = Backoff()
    assert [backoff.delay(uptime=1) for _ in range(4)] == [0, 1, 2, 4]
    assert backoff.delay(uptime=60) == 0
    assert backoff.delay(uptime=59) == 1
