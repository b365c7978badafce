"""Assignment as a way in: an agent cannot give away others' chats or tickets, nor take a chat
someone else claimed by assigning it to themselves; a trainer and a stranger nothing; unknown
agents and teams, wrong types and oversize notes are refused before anything is written;
writes only from the console's origin, as JSON; team names stay text."""
from __future__ import annotations

from sqlalchemy import func, select

from caredesk.db.models import AuditEntry, ConversationEvent, Note, Team, Ticket
from bot.console.assign import MAX_NOTE
from tests.bot.assign_data import a_ticket, claimed_chat, desk_people, rows, team, waiting_chat
from tests.bot.conftest import ORIGIN

XSS = '<img src=x onerror="alert(1)">'


async def _writes(sessions) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """Events after the hand-offs, notes and assignment audit entries: all stay 0 when refused."""
    async with sessions() as session:
        events = await session.scalar(select(func.count()).select_from(ConversationEvent).where(
            ConversationEvent.transition.in_(("assigned", "routed", "requeued", "transferred"))))
        notes = await session.scalar(select(func.count()).select_from(Note))
        audits = await session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action.like("assign%")))
    return events, notes, audits


async def test_an_agent_cannot_give_away_or_take_others_chats(gateway, sessions, sign_in) -> None:
    await desk_people(sessions)
    billing = await team(sessions, "Billing")
    await claimed_chat(sessions, "s1", "eli", "Eli")
    await waiting_chat(sessions, "s2")
    await claimed_chat(sessions, "s3", "bea", "Bea")
    bea = await sign_in("bea")
    for conversation_id, body in (("s1", {"agent": "bea", "note": "mine now"}),  # to herself, Eli's chat
                                  ("s1", {"team_id": billing, "note": "away with it"}),
                                  ("s1", {"note": "to the queue"}),
                                  ("s2", {"agent": "bea"}),  # a waiting chat: she claims it, not assigns it
                                  ("s2", {"team_id": billing}),
                                  ("s3", {"agent": "eli", "note": "yours"})):  # her own, to a named agent
        response = await bea.post(f"/api/conversations/{conversation_id}/assign", json=body)
        assert response.status == 403, (conversation_id, body)
    assert (await rows(sessions, "s1"))["agent"] == "eli" and (await rows(sessions, "s2"))["mode"] == "queued"
    assert await _writes(sessions) == (0, 0, 0)


async def test_an_agent_cannot_reassign_others_tickets(gateway, sessions, sign_in) -> None:
    await desk_people(sessions)
    await a_ticket(sessions, "mail-s", number="CD-800001", assignee_username="eli")
    await a_ticket(sessions, "mail-t", number="CD-800002")
    bea = await sign_in("bea")
    for number in ("CD-800001", "CD-800002"):
        response = await bea.post(f"/api/inbox/tickets/{number}/assign", json={"agent": "bea", "note": "mine"})
        assert response.status == 403
    async with sessions() as session:
        assert (await session.scalars(select(Ticket.assignee_username).order_by(Ticket.number))).all() == ["eli", None]
    assert await _writes(sessions) == (0, 0, 0)


async def test_a_trainer_and_a_stranger_get_nothing(gateway, sessions, sign_in) -> None:
    await desk_people(sessions)
    await waiting_chat(sessions, "s4")
    await a_ticket(sessions, "mail-u", number="CD-800003")
    tom = await sign_in("tom")
    assert (await tom.post("/api/conversations/s4/assign", json={"agent": "tom"})).status == 403
    assert (await tom.post("/api/inbox/tickets/CD-800003/assign", json={"agent": "bea"})).status == 403
    assert (await tom.get("/api/assign/choices")).status == 403
    assert (await tom.post("/api/teams", json={"name": "Mine"})).status == 403
    assert (await gateway.post("/api/conversations/s4/assign", json={"agent": "bea"},
                               headers={"Origin": ORIGIN})).status == 401
    bea = await sign_in("bea")
    assert (await bea.post("/api/teams", json={"name": "Mine"})).status == 403, "teams are the admins'"
    assert (await bea.put("/api/agents/bea/team", json={"team_id": None})).status == 403
    assert await _writes(sessions) == (0, 0, 0)


async def test_unknown_agents_teams_and_bad_fields_are_refused(gateway, sessions, sign_in) -> None:
    await desk_people(sessions)
    await waiting_chat(sessions, "s5")
    await a_ticket(sessions, "mail-v", number="CD-800004")
    dana = await sign_in("dana")
    refused = [
        {"agent": "nobody"}, {"agent": "tom"},  # no such agent; a trainer takes no chats
        {"team_id": 999999}, {"team_id": 2**31}, {"team_id": "1"}, {"team_id": True}, {"agent": ["bea"]}, {"agent": "bea\x00"},
        {"agent": "bea", "note": "x" * (MAX_NOTE + 1)}, {"agent": "bea", "note": 5}, {"agent": "a" * 65},
    ]
    for body in refused:
        for path in ("/api/conversations/s5/assign", "/api/inbox/tickets/CD-800004/assign"):
            response = await dana.post(path, json=body)
            assert response.status == 400 and response.content_type == "application/json", (path, body)
    assert (await dana.post("/api/conversations/nope/assign", json={"agent": "bea"})).status == 400
    assert (await dana.post("/api/conversations/bad%20id/assign", json={"agent": "bea"})).status == 404
    assert (await dana.post("/api/inbox/tickets/CD-000000/assign", json={"agent": "bea"})).status == 404
    assert (await dana.post("/api/conversations/s5/assign", json=["bea"])).status == 400
    assert (await rows(sessions, "s5"))["mode"] == "queued"
    assert await _writes(sessions) == (0, 0, 0)


async def test_no_cross_site_or_form_writes(gateway, sessions, sign_in) -> None:
    await desk_people(sessions)
    await waiting_chat(sessions, "s6")
    dana = await sign_in("dana")
    evil = {"Origin": "http://evil.example"}
    assert (await dana.post("/api/conversations/s6/assign", json={"agent": "bea"}, headers=evil)).status == 403
    form = await dana.post("/api/conversations/s6/assign", data='{"agent": "bea"}',
                           headers={"Content-Type": "text/plain"})
    assert form.status == 415
    assert (await dana.post("/api/teams", json={"name": "Evil"}, headers=evil)).status == 403
    assert (await rows(sessions, "s6"))["mode"] == "queued" and await _writes(sessions) == (0, 0, 0)


async def test_team_names_are_checked_and_kept_as_text(gateway, sessions, sign_in) -> None:
    await desk_people(sessions)
    from tests.bot.conftest import add_agent

    await add_agent(sessions, "ada", "Ada", role="admin")
    ada = await sign_in("ada")
    for name in (XSS, "", " ", "x" * 41, "Billing\x00", 7):
        assert (await ada.post("/api/teams", json={"name": name})).status == 400, name
    assert (await ada.post("/api/teams", json={"name": "Returns & Refunds"})).status == 201
    async with sessions() as session:
        assert (await session.scalars(select(Team.name))).all() == ["Returns & Refunds"]
    assert (await ada.put("/api/agents/bea/team", json={"team_id": 123456})).status == 404
    assert (await ada.put("/api/agents/bea/team", json={"team_id": 2**31})).status == 400, "no PostgreSQL integer"
    assert (await ada.delete(f"/api/teams/{2**31}")).status == 404
    assert (await ada.delete("/api/teams/abc")).status == 404


async def test_hostile_requests_to_assignment_never_answer_5xx(gateway, sessions, sign_in) -> None:
    """The assignment and team operations of bot/openapi.json, driven with hostile values (fixed seed)."""
    import asyncio

    from hypothesis import given, settings
    from yarl import URL

    from tests.security.fuzzing import FUZZ, api_requests, on_loop
    from tests.security.test_fuzz import assert_clear

    await desk_people(sessions)
    await team(sessions, "Billing", "bea")
    await waiting_chat(sessions, "web-3f2a")
    await a_ticket(sessions, "mail-f", number="CD-100001")
    from tests.bot.conftest import add_agent, log_in

    await add_agent(sessions, "ada", "Ada", role="admin")
    await log_in(gateway, "ada")
    run = on_loop(asyncio.get_running_loop())
    seen: dict[int, int] = {}

    async def call(method: str, url: str, body: str | None) -> tuple[int, str, bytes]:
        headers = {"Content-Type": "application/json", "Origin": ORIGIN} if body is not None else {}
        async with gateway.session.request(method, gateway.make_url("").join(URL(url, encoded=True)),
                                           data=None if body is None else body.encode("utf-8", "surrogatepass"),
                                           headers=headers) as response:
            return response.status, response.content_type, await response.read()

    @settings(FUZZ, max_examples=120)
    @given(api_requests().filter(lambda request: request[1].startswith(("/api/assign", "/api/teams"))
                                 or request[1].endswith("/assign")))
    def prop(request: tuple[str, str, str | None]) -> None:
        status, content_type, body = run(call(*request))
        seen[status] = seen.get(status, 0) + 1
        assert_clear(status, content_type, body, f"{request[0]} {request[1]}")
        assert content_type == "application/json", request

    await asyncio.to_thread(prop)
    assert seen.get(200) and seen.get(400) and seen.get(404), seen
