"""The conversation's state machine (bot/lifecycle.py): each transition, its hand-off row and
its event, made once however many writers try; and nothing else in the code writes them."""
import asyncio
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from caredesk.db.models import Conversation, ConversationEvent, Handoff
from caredesk.handoff_request import HandoffRequest
from bot import lifecycle
from tests.conftest import FIXED_NOW

ROOT = Path(__file__).resolve().parents[2]


def request(reason: str = "asked", **changes: Any) -> HandoffRequest:
    values: dict[str, Any] = dict(reason=reason, priority="normal", priority_score=60,
                                  promised_response_at=FIXED_NOW + dt.timedelta(hours=2),
                                  summary={"reason": reason, "recent_messages": ["a person please"]})
    return HandoffRequest(**{**values, **changes})


async def new_chat(sessions, conversation_id: str, mode: str = "bot") -> None:
    async with sessions.begin() as session:
        session.add(Conversation(id=conversation_id, channel="webchat", mode=mode))


async def state(sessions, conversation_id: str) -> tuple[str, str | None, list[tuple[str, str, str, str]]]:
    """The conversation's state, its agent, and its events as (transition, from, to, actor)."""
    async with sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
        events = (await session.scalars(select(ConversationEvent).where(
            ConversationEvent.conversation_id == conversation_id).order_by(ConversationEvent.id))).all()
    return conversation.mode, conversation.agent_name, [(e.transition, e.from_state, e.to_state, e.actor) for e in events]


async def handoffs(sessions, conversation_id: str) -> list[Handoff]:
    async with sessions() as session:
        return list((await session.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id)
                                           .order_by(Handoff.id))).all())


async def hand_over(sessions, conversation_id: str, req: HandoffRequest) -> lifecycle.Change:
    async with sessions.begin() as session:
        change, _ = await lifecycle.hand_over(session, conversation_id, req, now=FIXED_NOW)
    return change


async def claim(sessions, conversation_id: str, username: str, name: str, taken_from: str | None = None,
                handoff: Handoff | None = None) -> lifecycle.Change:
    handoff = handoff or (await handoffs(sessions, conversation_id))[-1]
    async with sessions.begin() as session:
        return await lifecycle.claim(session, conversation_id, handoff, username=username, name=name,
                                     now=FIXED_NOW, taken_from=taken_from)


async def test_a_request_for_a_person_queues_the_conversation_with_its_handoff_and_event(sessions) -> None:
    await new_chat(sessions, "c1")
    change = await hand_over(sessions, "c1", request())
    [handoff] = await handoffs(sessions, "c1")
    assert (change.transition, change.state, change.handoff_id, change.channel) == ("handed_over", "queued", handoff.id, "webchat")
    assert (handoff.status, handoff.reason, handoff.priority, handoff.summary["recent_messages"]) == (
        "waiting", "asked", "normal", ["a person please"])
    assert await state(sessions, "c1") == ("queued", None, [("handed_over", "bot", "queued", "bot")])
    with pytest.raises(lifecycle.TooLate):  # asked again while waiting: nothing new
        await hand_over(sessions, "c1", request("churn_threat"))
    assert len(await handoffs(sessions, "c1")) == 1 and len((await state(sessions, "c1"))[2]) == 1


async def test_the_gateways_own_handoff_when_the_bot_fails_is_its_own_transition(sessions) -> None:
    await new_chat(sessions, "c2")
    change = await hand_over(sessions, "c2", request("bot_unavailable"))
    assert change.transition == "bot_unavailable"
    assert (await state(sessions, "c2"))[2] == [("bot_unavailable", "bot", "queued", "gateway")]


async def test_claim_transfer_and_hand_back_each_leave_one_event(sessions) -> None:
    await new_chat(sessions, "c3")
    await hand_over(sessions, "c3", request())
    change = await claim(sessions, "c3", "dana", "Dana")
    assert (change.transition, change.agent_name) == ("claimed", "Dana")
    [handoff] = await handoffs(sessions, "c3")
    assert (handoff.status, handoff.claimed_by, handoff.agent_username) == ("claimed", "Dana", "dana")
    assert (await state(sessions, "c3"))[:2] == ("agent", "Dana")

    change = await claim(sessions, "c3", "lee", "Lee", taken_from="dana")
    assert change.transition == "transferred"
    [handoff] = await handoffs(sessions, "c3")
    assert (handoff.claimed_by, handoff.agent_username) == ("Lee", "lee")

    async with sessions.begin() as session:
        back = await lifecycle.hand_back(session, "c3", actor="agent:lee", now=FIXED_NOW)
    assert back is not None and back.transition == "handed_back" and back.handoff_id == handoff.id
    async with sessions.begin() as session:
        assert await lifecycle.hand_back(session, "c3", actor="agent:dana") is None, "a second click does nothing"
    [handoff] = await handoffs(sessions, "c3")
    assert handoff.status == "ended" and handoff.ended_at is not None
    assert await state(sessions, "c3") == ("bot", None, [
        ("handed_over", "bot", "queued", "bot"), ("claimed", "queued", "agent", "agent:dana"),
        ("transferred", "agent", "agent", "agent:lee"), ("handed_back", "agent", "bot", "agent:lee")])


async def test_resolving_closes_the_conversation_and_the_customer_writing_reopens_it(sessions) -> None:
    await new_chat(sessions, "c8")
    await hand_over(sessions, "c8", request())
    await claim(sessions, "c8", "dana", "Dana")
    async with sessions.begin() as session:
        done = await lifecycle.hand_back(session, "c8", actor="agent:dana", resolve=True, now=FIXED_NOW)
    assert done is not None and (done.transition, done.state) == ("resolved", "closed")
    [handoff] = await handoffs(sessions, "c8")
    assert handoff.status == "ended"
    assert (await state(sessions, "c8"))[:2] == ("closed", None)
    async with sessions.begin() as session:  # resolved twice (two consoles): once
        assert await lifecycle.hand_back(session, "c8", actor="agent:lee", resolve=True) is None
    with pytest.raises(lifecycle.TooLate):  # a closed conversation is reopened before the bot may ask for a person
        await hand_over(sessions, "c8", request())

    async with sessions.begin() as session:
        again = await lifecycle.reopen(await session.connection(), "c8")
    assert again is not None and (again.transition, again.state, again.handoff_id) == ("reopened", "bot", None)
    async with sessions.begin() as session:
        assert await lifecycle.reopen(await session.connection(), "c8") is None, "not closed: nothing to do"
    assert await state(sessions, "c8") == ("bot", None, [
        ("handed_over", "bot", "queued", "bot"), ("claimed", "queued", "agent", "agent:dana"),
        ("resolved", "agent", "closed", "agent:dana"), ("reopened", "closed", "bot", "customer")])
    await hand_over(sessions, "c8", request())  # with the bot again: it may ask for a person
    assert len(await handoffs(sessions, "c8")) == 2


async def test_of_two_agents_claiming_at_once_one_gets_it(sessions) -> None:
    await new_chat(sessions, "c4")
    await hand_over(sessions, "c4", request())
    [handoff] = await handoffs(sessions, "c4")  # both consoles read it while it was waiting
    results = await asyncio.gather(claim(sessions, "c4", "dana", "Dana", handoff=handoff),
                                   claim(sessions, "c4", "lee", "Lee", handoff=handoff), return_exceptions=True)
    won = [r for r in results if isinstance(r, lifecycle.Change)]
    assert len(won) == 1 and sum(isinstance(r, lifecycle.TooLate) for r in results) == 1, results
    mode, agent, events = await state(sessions, "c4")
    assert (mode, agent) == ("agent", won[0].agent_name)
    assert [e[0] for e in events] == ["handed_over", "claimed"]


async def test_the_bot_comes_back_only_to_a_fault_nobody_claimed(sessions) -> None:
    await new_chat(sessions, "c5")
    await hand_over(sessions, "c5", request("bot_unavailable"))
    [handoff] = await handoffs(sessions, "c5")
    async with sessions.begin() as session:
        change = await lifecycle.bot_back(await session.connection(), "c5", handoff.id)
    assert change is not None and change.state == "bot"
    [handoff] = await handoffs(sessions, "c5")
    assert (handoff.status, handoff.end_reason) == ("ended", "bot_back")
    assert [e[0] for e in (await state(sessions, "c5"))[2]] == ["bot_unavailable", "bot_back"]

    await new_chat(sessions, "c6")
    await hand_over(sessions, "c6", request("bot_unavailable"))
    await claim(sessions, "c6", "dana", "Dana")
    [handoff] = await handoffs(sessions, "c6")
    async with sessions.begin() as session:
        assert await lifecycle.bot_back(await session.connection(), "c6", handoff.id) is None
    assert (await state(sessions, "c6"))[0] == "agent", "a person has it: it stays theirs"


class Recorder:
    """Stands in for the hub's two ways out, to see what a transition announces."""

    def __init__(self) -> None:
        self.customer: list[dict[str, Any]] = []
        self.watchers: list[dict[str, Any]] = []

    async def to_customer(self, conversation_id: str, frame: dict[str, Any]) -> None:
        self.customer.append(frame)

    async def to_watchers(self, conversation_id: str, frame: dict[str, Any]) -> None:
        self.watchers.append(frame)


async def test_each_change_is_announced_to_the_customer_and_the_consoles() -> None:
    hub = Recorder()
    await lifecycle.announce(hub, lifecycle.Change("c7", "claimed", 1, agent_name="Dana"))  # type: ignore[arg-type]
    await lifecycle.announce(hub, lifecycle.Change("c7", "handed_back", 1))  # type: ignore[arg-type]
    await lifecycle.announce(hub, lifecycle.Change("c7", "resolved", 1))  # type: ignore[arg-type]
    await lifecycle.announce(hub, lifecycle.Change("c7", "reopened", None))  # type: ignore[arg-type]
    assert [f["type"] for f in hub.customer] == ["agent_joined", "state", "agent_left", "state", "agent_left", "state",
                                                 "state"]
    assert [(f["state"], f["transition"]) for f in hub.watchers] == [
        ("agent", "claimed"), ("bot", "handed_back"), ("closed", "resolved"), ("bot", "reopened")]
    assert all(f["conversation_id"] == "c7" for f in hub.watchers)


# Writes of who is talking to the customer, anywhere: the state, and the hand-off's status.
STATE_WRITES = re.compile(
    r"\.mode\s*=(?!=)|values\([^)]*\bmode=|\.status\s*=\s*\"(waiting|claimed|ended)\"|"
    r"values\([^)]*status=\"(claimed|ended)\"|create_handoff\(|end_handoff\("
)


def test_only_the_state_machine_writes_the_state() -> None:
    allowed = {
        "bot/lifecycle.py",
        "caredesk/db/repository.py",  # create_handoff itself, called only by the state machine
        "bot/privacy/erase.py",  # an erased conversation's pseudonym (mode "erased"), never routed again
    }
    writers = []
    for path in sorted([*ROOT.glob("bot/**/*.py"), *ROOT.glob("actions/**/*.py"), *ROOT.glob("caredesk/**/*.py")]):
        name = path.relative_to(ROOT).as_posix()
        if name in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if STATE_WRITES.search(line) and not line.lstrip().startswith("#"):
                writers.append(f"{name}:{number}: {line.strip()}")
    assert writers == []


async def test_a_waiting_customer_may_go_back_to_the_assistant_until_a_person_claims_it(sessions) -> None:
    await new_chat(sessions, "c9")
    await hand_over(sessions, "c9", request())
    async with sessions.begin() as session:
        back = await lifecycle.customer_back(session, "c9")
    assert back is not None and (back.transition, back.state) == ("customer_back", "bot")
    [handoff] = await handoffs(sessions, "c9")
    assert (handoff.status, handoff.end_reason, back.handoff_id) == ("ended", "customer_back", handoff.id)
    await new_chat(sessions, "c10")
    await hand_over(sessions, "c10", request())
    await claim(sessions, "c10", "dana", "Dana")
    async with sessions.begin() as session:
        assert await lifecycle.customer_back(session, "c10") is None
    assert (await state(sessions, "c10"))[:2] == ("agent", "Dana")
    assert [e[0] for e in (await state(sessions, "c9"))[2]] == ["handed_over", "customer_back"]
