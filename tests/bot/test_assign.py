"""Assignment and teams (issue 19, item 3): a lead gives a chat to an agent or a team, an agent
passes their own on, tickets without a live chat get an assignee, and automatic assignment
gives new hand-offs to available agents under the cap, round robin. Real gateway, SQLite and
PostgreSQL; the database rows, events, notes and audit entries are what is checked."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os

import pytest
from sqlalchemy import select

from caredesk.db.models import Message, Ticket, TicketEvent, utcnow
from bot import lifecycle
from bot.app_keys import DESK, ROUTER
from bot.console.auto_assign import AutoAssigner, choose
from bot.console.desk import Desk
from bot.hub import Hub
from bot.presence import AWAY, ONLINE, Seen
from tests.bot.assign_data import a_ticket, claimed_chat, desk_people, rows, team, waiting_chat
from tests.bot.conftest import ORIGIN, log_in, start_client

JSON = {"Origin": ORIGIN}


async def post(client, path: str, body: dict) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    response = await client.post(path, json=body, headers=JSON)
    return response.status, await response.json()


def test_the_new_transitions_start_and_end_where_the_state_machine_says() -> None:
    assert lifecycle.TRANSITIONS["assigned"] == ("queued", "agent")
    assert lifecycle.TRANSITIONS["routed"] == ("queued", "queued")
    assert lifecycle.TRANSITIONS["requeued"] == ("agent", "queued")


async def test_a_lead_gives_a_waiting_chat_to_an_agent_with_a_note(gateway, sessions, domain) -> None:
    await desk_people(sessions)
    await waiting_chat(sessions, "as1", ticket=True)
    await log_in(gateway, "dana")
    status, body = await post(gateway, "/api/conversations/as1/assign", {"agent": "bea", "note": "Billing question"})
    assert (status, body["agent"], body["state"]) == (200, "bea", "agent")
    found = await rows(sessions, "as1")
    assert (found["mode"], found["agent"], found["handoff"][:2]) == ("agent", "bea", ("claimed", "bea"))
    assert found["events"][-1] == ("assigned", "agent:dana", {"by": "dana", "note": "Billing question", "to": "bea"})
    assert [n[:2] for n in found["notes"]] == [("Dana", "Billing question")] and found["notes"][0][2] is not None
    assert found["audit"] == [("dana", {"agent": "bea", "team": None, "from": None, "note_characters": 16})]
    async with sessions() as session:
        said = (await session.scalars(select(Message.text).where(Message.conversation_id == "as1",
                                                                 Message.sender == "system"))).all()
        kinds = (await session.scalars(select(TicketEvent.kind).join(Ticket).where(
            Ticket.conversation_id == "as1"))).all()
    joined = domain["responses"]["utter_gateway_agent_joined"][0]["text"].replace("{agent_name}", "Bea")
    assert said == [joined] and "assigned" in kinds


async def test_reassigning_a_claimed_chat_needs_a_note_and_is_a_transfer(gateway, sessions) -> None:
    await desk_people(sessions)
    await claimed_chat(sessions, "as2", "eli", "Eli")
    await log_in(gateway, "dana")
    status, body = await post(gateway, "/api/conversations/as2/assign", {"agent": "bea"})
    assert status == 400 and "note" in body["error"]
    assert (await rows(sessions, "as2"))["agent"] == "eli", "refused: nothing changed"
    status, _ = await post(gateway, "/api/conversations/as2/assign", {"agent": "bea", "note": "Eli is off at 5"})
    assert status == 200
    found = await rows(sessions, "as2")
    assert (found["mode"], found["agent"], found["handoff"][:2]) == ("agent", "bea", ("claimed", "bea"))
    assert found["events"][-1] == ("transferred", "agent:dana",
                                   {"from": "eli", "by": "dana", "note": "Eli is off at 5", "to": "bea"})
    status, body = await post(gateway, "/api/conversations/as2/assign", {"agent": "bea", "note": "again"})
    assert status == 409, "already hers"


async def test_a_chat_given_to_a_team_waits_for_that_team_first(gateway, sessions) -> None:
    await desk_people(sessions)
    billing = await team(sessions, "Billing", "bea")
    await waiting_chat(sessions, "as3")
    await log_in(gateway, "dana")
    status, body = await post(gateway, "/api/conversations/as3/assign", {"team_id": billing})
    assert (status, body["state"], body["team_id"]) == (200, "queued", billing)
    found = await rows(sessions, "as3")
    assert (found["mode"], found["handoff"]) == ("queued", ("waiting", None, billing))
    assert found["events"][-1] == ("routed", "agent:dana", {"by": "dana", "team": "Billing"})
    [item] = [i for i in await gateway.server.app[DESK].queue() if i["conversation_id"] == "as3"]
    assert (item["team_id"], item["team"]) == (billing, "Billing")
    choices = await (await gateway.get("/api/assign/choices")).json()
    assert {"id": billing, "name": "Billing", "members": 1} in choices["teams"]
    assert {a["username"]: a["team"] for a in choices["agents"]} == {"dana": None, "bea": "Billing", "eli": None}


async def test_an_agent_passes_their_own_chat_to_a_team_and_it_waits_again(gateway, sessions) -> None:
    await desk_people(sessions)
    delivery = await team(sessions, "Delivery", "eli")
    await claimed_chat(sessions, "as4", "bea", "Bea")
    await log_in(gateway, "bea")
    status, _ = await post(gateway, "/api/conversations/as4/assign", {"team_id": delivery, "note": "Courier issue"})
    assert status == 200
    found = await rows(sessions, "as4")
    assert (found["mode"], found["agent"], found["handoff"]) == ("queued", None, ("waiting", None, delivery))
    assert found["events"][-1] == ("requeued", "agent:bea",
                                   {"from": "bea", "by": "bea", "note": "Courier issue", "team": "Delivery"})
    assert found["notes"][0][:2] == ("Bea", "Courier issue") and found["audit"][0][0] == "bea"


async def test_a_ticket_without_a_live_chat_goes_to_an_agent_and_shows_in_their_mine(gateway, sessions) -> None:
    await desk_people(sessions)
    billing = await team(sessions, "Billing", "bea")
    await a_ticket(sessions, "mail-1", number="CD-900001")
    await log_in(gateway, "dana")
    status, _ = await post(gateway, "/api/inbox/tickets/CD-900001/assign", {"agent": "bea", "team_id": billing})
    assert status == 200
    status, body = await post(gateway, "/api/inbox/tickets/CD-900001/assign", {"agent": "eli"})
    assert status == 400 and "note" in body["error"], "someone has it: a note for the next one"
    async with sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == "CD-900001"))
        events = (await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))).all()
    assert (ticket.assignee_username, ticket.team_id) == ("bea", billing)
    assert [(e.kind, e.actor, e.note) for e in events] == [("assigned", "agent:dana", "to Bea")]
    detail = await (await gateway.get("/api/inbox/tickets/CD-900001")).json()
    assert (detail["assignee"], detail["team_id"], detail["handled_by"]) == ("bea", billing, "bea")
    unassigned = await (await gateway.get("/api/inbox?view=unassigned")).json()
    assert "mail-1" not in [i["conversation_id"] for i in unassigned["items"]]
    await gateway.post("/console/logout", headers=JSON)
    await log_in(gateway, "bea")
    mine = await (await gateway.get("/api/inbox?view=mine")).json()
    assert [i["conversation_id"] for i in mine["items"]] == ["mail-1"]
    status, _ = await post(gateway, "/api/inbox/tickets/CD-900001/assign", {"team_id": None, "note": "Not mine"})
    assert status == 200, "an agent may give back a ticket assigned to them"
    async with sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == "CD-900001"))
    assert (ticket.assignee_username, ticket.team_id) == (None, None)


async def test_admins_manage_teams_on_the_agents_page_api(gateway, sessions) -> None:
    await desk_people(sessions)
    await add_admin(sessions)
    await log_in(gateway, "ada")
    status, created = await post(gateway, "/api/teams", {"name": " Delivery "})
    assert (status, created["name"]) == (201, "Delivery")
    assert (await post(gateway, "/api/teams", {"name": "delivery"}))[0] == 409
    response = await gateway.put("/api/agents/bea/team", json={"team_id": created["id"]}, headers=JSON)
    assert response.status == 200 and (await response.json())["team_id"] == created["id"]
    listed = await (await gateway.get("/api/agents")).json()
    assert {a["username"]: a["team_id"] for a in listed}["bea"] == created["id"]
    await waiting_chat(sessions, "as5", team_id=created["id"])
    response = await gateway.delete(f"/api/teams/{created['id']}", headers=JSON)
    assert response.status == 200
    assert (await rows(sessions, "as5"))["handoff"][2] is None, "its chats wait for everyone"
    assert await (await gateway.get("/api/teams")).json() == []


async def add_admin(sessions) -> None:  # type: ignore[no-untyped-def]
    from tests.bot.conftest import add_agent

    await add_agent(sessions, "ada", "Ada", role="admin")


class Online(Hub):
    """A hub where the given agents have a console open, online (and "away" ones, away)."""

    def __init__(self, *names: str, away: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.names, self.away = set(names), set(away)

    def local_agents(self) -> set[str]:
        return self.names | self.away

    def presence(self) -> dict[str, Seen]:
        return {**{n: Seen(n, ONLINE) for n in self.names}, **{n: Seen(n, AWAY) for n in self.away}}


async def test_choice_is_the_fewest_open_chats_under_the_cap_then_longest_ago(sessions) -> None:
    await desk_people(sessions)
    earlier = utcnow() - dt.timedelta(hours=1)
    await claimed_chat(sessions, "old-bea", "bea", "Bea", at=earlier)
    await claimed_chat(sessions, "old-eli", "eli", "Eli", at=earlier + dt.timedelta(minutes=5))
    await waiting_chat(sessions, "new1")
    async with sessions.begin() as session:
        handoff = await lifecycle_handoff(session, "new1")
        chosen = await choose(session, handoff, {"bea", "eli", "tom"}, cap=3)
    assert chosen.username == "bea", "one chat each: Bea's was given longest ago"
    async with sessions.begin() as session:
        handoff = await lifecycle_handoff(session, "new1")
        assert await choose(session, handoff, {"bea", "eli"}, cap=1) is None, "both at the cap"
        assert (await choose(session, handoff, {"dana", "bea"}, cap=1)).username == "dana", "no chats yet"
        assert await choose(session, handoff, {"tom"}, cap=3) is None, "a trainer takes no chats"


async def lifecycle_handoff(session, conversation_id: str):  # type: ignore[no-untyped-def]
    from caredesk.db import repository

    return await repository.open_handoff(session, conversation_id)


async def test_auto_assignment_gives_new_chats_round_robin_and_keeps_to_the_team(gateway, sessions) -> None:
    await desk_people(sessions)
    delivery = await team(sessions, "Delivery", "eli")
    app = gateway.server.app
    desk = app[DESK]
    assigner = AutoAssigner(Desk(desk.sessions, Online("bea", "eli", away=("dana",)), app[ROUTER], clock=desk.clock),
                            cap=1)
    for name in ("rr1", "rr2", "rr3"):
        await waiting_chat(sessions, name)
    await waiting_chat(sessions, "rr4", team_id=delivery)
    assert await assigner.offer("rr4") is True
    assert [await assigner.offer(name) for name in ("rr1", "rr2", "rr3")] == [True, False, False]
    owners = {name: (await rows(sessions, name))["agent"] for name in ("rr1", "rr2", "rr3", "rr4")}
    assert owners == {"rr4": "eli", "rr1": "bea", "rr2": None, "rr3": None}, "the team's chat to its member; cap 1"
    found = await rows(sessions, "rr1")
    assert found["events"][-1] == ("assigned", "gateway", {"auto": True, "to": "bea"})
    assert (await AutoAssigner(desk, cap=3).offer("rr2")) is False, "nobody has a console open"


async def test_auto_assignment_is_off_by_default_and_hooked_in_when_on(gateway, sessions, database_url,
                                                                         make_settings) -> None:
    assert gateway.server.app[ROUTER].on_handed_over is None
    settings = dataclasses.replace(make_settings(database_url), auto_assign=True, max_open_chats=2)
    client = await start_client(settings)
    try:
        assert client.server.app[ROUTER].on_handed_over is not None
    finally:
        await client.close()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL")
async def test_two_gateways_auto_assigning_at_once_keep_the_cap(sessions, database_url) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the row lock is PostgreSQL's")
    await desk_people(sessions)
    await claimed_chat(sessions, "busy", "bea", "Bea")
    await waiting_chat(sessions, "pg1")
    await waiting_chat(sessions, "pg2")

    class Quiet:  # the router's parts a told assignment uses, without a customer channel
        texts = type("T", (), {"say": staticmethod(lambda key, **kw: "joined")})()

        async def say(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            return None

    def gateway_desk() -> Desk:
        return Desk(sessions, Online("bea"), Quiet())  # type: ignore[arg-type]

    one, two = AutoAssigner(gateway_desk(), cap=2), AutoAssigner(gateway_desk(), cap=2)
    results = await asyncio.gather(one.offer("pg1"), two.offer("pg2"))
    assert sorted(results) == [False, True], "Bea had one chat of two: only one more"
    owners = [(await rows(sessions, name))["agent"] for name in ("pg1", "pg2")]
    assert owners.count("bea") == 1 and owners.count(None) == 1
    await waiting_chat(sessions, "pg3")
    three, four = AutoAssigner(gateway_desk(), cap=5), AutoAssigner(gateway_desk(), cap=5)
    results = await asyncio.gather(three.offer("pg3"), four.offer("pg3"))
    assert sorted(results) == [False, True], "the same hand-off is given once"
    assert [e[0] for e in (await rows(sessions, "pg3"))["events"]] == ["handed_over", "assigned"]


async def test_with_auto_assignment_on_a_new_hand_off_goes_to_the_agent_whose_console_is_open(
        sessions, database_url, make_settings, domain) -> None:
    """End to end: Rasa cannot be reached (port 9), so the customer's first line is handed
    over; Bea has a console open, so it is hers at once, and the customer is told."""
    from tests.bot.test_webchat import frames_until, system_text

    await desk_people(sessions)
    settings = dataclasses.replace(make_settings(database_url), auto_assign=True, max_open_chats=2)
    client = await start_client(settings)
    try:
        await log_in(client, "bea")
        console = await client.ws_connect("/ws/console", headers=JSON)
        chat = await client.ws_connect("/ws/chat", headers=JSON)
        conversation_id = (await chat.receive_json())["conversation_id"]
        await chat.send_json({"type": "message", "text": "my parcel never came", "client_id": "m1"})
        joined = domain["responses"]["utter_gateway_agent_joined"][0]["text"].replace("{agent_name}", "Bea")
        frames = await frames_until(chat, lambda f: system_text(f) == joined)
        assert any(f["type"] == "agent_joined" and f["agent_name"] == "Bea" for f in frames)
        seen = await frames_until(console, lambda f: f["type"] == "assigned")
        assert (seen[-1]["conversation_id"], seen[-1]["agent_username"], seen[-1]["by"]) == (
            conversation_id, "bea", None)
        found = await rows(sessions, conversation_id)
        assert (found["mode"], found["agent"], found["handoff"][:2]) == ("agent", "bea", ("claimed", "bea"))
        assert [e[:2] for e in found["events"]] == [("bot_unavailable", "gateway"), ("assigned", "gateway")]
        await chat.close()
        await console.close()
    finally:
        await client.close()
