"""Fault injection (issue 17): CareDesk started by `make run`'s launcher, ten scripted web-chat
customers, and `kill -9` of one process at a time while they chat. Each killed process must
answer again within 10 s (restarted by the launcher), the other processes keep serving, and
afterwards the database holds every line a customer saw echoed, every ticket a customer was
promised, an answer after every stored customer line, and every conversation that went to
the queue because of the fault back with the bot. On the embedded default (one Rasa process,
SQLite) and, where Redis and TEST_DATABASE_URL answer, the production layout (two Rasa
processes, Redis locks, PostgreSQL). See docs/reliability.md."""
from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.e2e.chaos import Crowd, Tally
from tests.e2e.launched import (BACK_WITHIN, Launched, back_within, faults_not_cleared, launched_stack, lost_lines,
                                missing_tickets, other_rasa_answers, production_layout_here, unanswered_lines)

pytestmark = pytest.mark.e2e


FAULT_CLEARED_WITHIN = 45.0  # seconds: the gateway retries a faulted conversation every pass (10 s), backing off


@pytest.fixture(scope="module", params=["embedded", "production"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    embedded = request.param == "embedded"
    if not embedded and not production_layout_here():
        pytest.skip("the production layout needs Redis and TEST_DATABASE_URL (PostgreSQL)")
    with launched_stack(tmp_path_factory.mktemp("faults"), embedded=embedded) as running:
        yield running
        print("".join(line for line in running.output if "is back" in line or "exited unexpectedly" in line
                      or "spare" in line))


def kill(stack: Launched, name: str) -> int:
    pid = stack.pid_of(name)
    os.kill(pid, signal.SIGKILL)
    return pid


async def assert_nothing_lost(stack: Launched, tally: Tally) -> None:
    assert tally.echoed, "the customers said nothing: the drill proves nothing"
    assert await lost_lines(stack, tally.echoed) == [], "a line the customer saw echoed is not stored"
    assert await missing_tickets(stack, tally.promised) == set(), "a ticket a customer was told about is missing"


def assert_launcher_logged(stack: Launched, name: str, pid: int) -> None:
    """The exit is on the terminal and in supervisor.log: which process, which signal."""
    exited = [line for line in stack.said("exited unexpectedly") if f"(pid {pid})" in line]
    assert exited and f"The {name} process" in exited[0] and "killed by SIGKILL" in exited[0], stack.output[-10:]
    assert f"(pid {pid}) exited unexpectedly: killed by SIGKILL" in (stack.log_dir / "supervisor.log").read_text()


async def assert_every_line_answered(stack: Launched, tally: Tally, seconds: float = 0) -> None:
    """0 stored customer lines without a bot, agent or system line after them, waiting up to
    `seconds` for a restarted gateway to catch up."""
    deadline = time.monotonic() + seconds
    while (left := await unanswered_lines(stack, tally.conversations)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert left == [], f"{len(left)} stored customer line(s) never answered: {left[:5]}"


async def assert_back_with_the_bot(stack: Launched, tally: Tally) -> None:
    """Every conversation the fault sent to the queue is the bot's again (no agent is online
    to claim one), within FAULT_CLEARED_WITHIN."""
    deadline = time.monotonic() + FAULT_CLEARED_WITHIN
    while (left := await faults_not_cleared(stack, tally.conversations)) and time.monotonic() < deadline:
        await asyncio.sleep(1)
    assert left == [], f"{len(left)} conversation(s) still queued after the fault cleared: {left[:5]}"


async def test_a_killed_rasa_process_is_back_within_10s_while_the_other_answers(stack: Launched) -> None:
    two = len(stack.rasa_urls) == 2
    await stack.until_said("The spare Rasa process is ready.", 90)  # as within a minute of any start
    async with Crowd(stack) as crowd:
        await crowd.everyone_answered_after(time.monotonic())
        pid, killed = kill(stack, "rasa"), time.monotonic()
        if two:
            assert await other_rasa_answers(stack, "rasa-1"), "the other Rasa process stopped answering"
        back = await back_within(stack, "rasa", pid)
        recovered = time.monotonic()
        await crowd.everyone_answered_after(recovered)
    assert back < BACK_WITHIN, f"Rasa took {back:.1f} s to answer again"
    if two:
        assert any(killed < moment < recovered for moment in crowd.tally.answers), "nobody was answered meanwhile"
    assert_launcher_logged(stack, "rasa", pid)
    await assert_nothing_lost(stack, crowd.tally)
    await assert_every_line_answered(stack, crowd.tally)
    await assert_back_with_the_bot(stack, crowd.tally)


async def test_a_killed_action_server_is_back_within_10s_and_nothing_is_lost(stack: Launched) -> None:
    async with Crowd(stack) as crowd:
        await crowd.everyone_answered_after(time.monotonic())
        pid = kill(stack, "actions")
        back = await back_within(stack, "actions", pid)
        await crowd.everyone_answered_after(time.monotonic())
    assert back < BACK_WITHIN, f"the action server took {back:.1f} s to answer again"
    assert_launcher_logged(stack, "actions", pid)
    await assert_nothing_lost(stack, crowd.tally)
    await assert_every_line_answered(stack, crowd.tally)
    await assert_back_with_the_bot(stack, crowd.tally)


async def test_a_killed_gateway_is_back_within_10s_and_loses_no_echoed_line(stack: Launched) -> None:
    async with Crowd(stack) as crowd:
        await crowd.everyone_answered_after(time.monotonic())
        pid = kill(stack, "gateway")
        back = await back_within(stack, "gateway", pid)
        await crowd.everyone_answered_after(time.monotonic())
    assert back < BACK_WITHIN, f"the gateway took {back:.1f} s to answer again"
    assert crowd.tally.reconnects, "no customer noticed the gateway going away"
    assert_launcher_logged(stack, "gateway", pid)
    await assert_nothing_lost(stack, crowd.tally)


def kill_and_stop(stack: Launched, crowd: Crowd, killed: list[int]) -> None:
    killed.append(kill(stack, "gateway"))
    crowd.stop()


async def test_a_line_echoed_just_before_a_gateway_kill_is_still_answered(stack: Launched) -> None:
    """The gateway is killed the moment a customer sees its line echoed, before Rasa's answer
    can come back; the customers then finish their turn (reconnecting) and say no more, so
    that line's answer can only come from the restarted gateway."""
    killed: list[int] = []
    async with Crowd(stack) as crowd:
        await crowd.everyone_answered_after(time.monotonic())
        crowd.tally.on_echo = lambda: kill_and_stop(stack, crowd, killed)
        await crowd.until(lambda: bool(killed), 30, "no line was echoed")
        await back_within(stack, "gateway", killed[0])
    await assert_nothing_lost(stack, crowd.tally)
    await assert_every_line_answered(stack, crowd.tally, seconds=10)
