"""Login, the session cookie, refusing strangers, and the JSON API."""
import aiohttp
import pytest

from caredesk.db import repository
from caredesk.db.models import utcnow
from bot.app_keys import LIMITER
from bot.console.auth import COOKIE
from tests.bot.conftest import ORIGIN, PASSWORD, add_agent, log_in


async def test_console_and_api_refuse_anyone_not_logged_in(gateway) -> None:
    page = await gateway.get("/console", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/console/login"
    assert (await gateway.get("/api/tickets")).status == 401
    assert (await gateway.get("/api/conversations/c_x")).status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gateway.ws_connect("/ws/console", headers={"Origin": ORIGIN})
    assert refused.value.status == 401


async def test_login_sets_a_safe_cookie_and_logout_ends_the_session(gateway, sessions) -> None:
    await add_agent(sessions)
    wrong = await gateway.post("/console/login", data={"username": "dana", "password": "nope"}, allow_redirects=False)
    assert wrong.status == 303 and wrong.headers["Location"] == "/console/login?error=1"
    unknown = await gateway.post("/console/login", data={"username": "zed", "password": PASSWORD}, allow_redirects=False)
    assert unknown.headers["Location"] == "/console/login?error=1"

    response = await gateway.post("/console/login", data={"username": "dana", "password": PASSWORD}, allow_redirects=False)
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert (await gateway.get("/api/tickets")).status == 200
    assert (await gateway.get("/console")).status == 200

    token = cookie.value
    logout = await gateway.post("/console/logout", allow_redirects=False)
    assert logout.status == 303 and logout.headers["Location"] == "/console/login"
    replay = await gateway.get("/api/tickets", cookies={COOKIE: token})
    assert replay.status == 401, "a logged-out session cannot be replayed"


async def test_too_many_wrong_passwords_make_that_username_wait(gateway, sessions) -> None:
    await add_agent(sessions)
    await add_agent(sessions, "eli", "Eli")
    now = [1000.0]
    gateway.server.app[LIMITER].clock = lambda: now[0]

    async def sign_in(username: str, password: str) -> aiohttp.ClientResponse:
        gateway.session.cookie_jar.clear()
        return await gateway.post("/console/login", data={"username": username, "password": password},
                                  allow_redirects=False)

    for minute in range(5):
        now[0] = 1000.0 + 60 * minute
        assert (await sign_in("dana", f"guess {minute}")).headers["Location"] == "/console/login?error=1"
    refused = await sign_in("Dana", PASSWORD)
    assert refused.headers["Location"] == "/console/login?error=wait&minutes=11", "even the right password waits"
    assert COOKIE not in refused.cookies
    assert (await sign_in("eli", PASSWORD)).headers["Location"] == "/console", "other agents are not affected"

    now[0] = 1000.0 + 15 * 60  # the first wrong password is 15 minutes old
    assert (await sign_in("dana", PASSWORD)).headers["Location"] == "/console"
    # A success forgets the failures: the next typo is simply a typo.
    assert (await sign_in("dana", "typo")).headers["Location"] == "/console/login?error=1"
    assert (await sign_in("dana", PASSWORD)).headers["Location"] == "/console"


async def test_cross_site_requests_are_refused(gateway, sessions) -> None:
    await add_agent(sessions)
    evil = {"Origin": "http://evil.example"}
    login = await gateway.post("/console/login", data={"username": "dana", "password": PASSWORD},
                               headers=evil, allow_redirects=False)
    assert login.status == 403
    await log_in(gateway)
    for path in ("/ws/chat", "/ws/console"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await gateway.ws_connect(path, headers=evil)
        assert refused.value.status == 403, path
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await gateway.ws_connect("/ws/chat")  # browsers always send Origin; none is refused too


async def test_ticket_api_reads_and_changes_status(gateway, sessions, company) -> None:
    await add_agent(sessions)
    await log_in(gateway)
    async with sessions.begin() as session:
        ticket = await repository.create_ticket(session, repository.NewTicket(
            channel="webchat", conversation_id="c_1", contact="jo@example.org", contact_kind="email",
            category="late_delivery", description="still waiting", desired_outcome="refund",
            order_number=None, sentiment=-0.2, severity="formal_complaint", priority="normal",
            priority_score=60, promised_response_at=utcnow(),
        ))
        number = ticket.number
    listed = await (await gateway.get("/api/tickets?status=open")).json()
    assert [t["number"] for t in listed] == [number]
    changed = await gateway.patch(f"/api/tickets/{number}", json={"status": "in_progress"})
    assert changed.status == 200
    body = await changed.json()
    assert body["status"] == "in_progress"
    assert [(e["from_status"], e["to_status"]) for e in body["events"]] == [(None, "open"), ("open", "in_progress")]
    assert body["events"][-1]["actor"] == "agent:dana"
    assert (await gateway.patch(f"/api/tickets/{number}", json={"status": "closed"})).status == 409
    assert (await gateway.patch(f"/api/tickets/{number}", json={"state": "x"})).status == 400
    assert (await gateway.get("/api/tickets/CD-999999")).status == 404
    assert await (await gateway.get("/api/tickets?status=open")).json() == []
    assert await (await gateway.get("/api/feedback")).json() == []


async def test_satisfaction_reports_the_bot_and_each_agent_apart(gateway, sessions) -> None:
    from datetime import timedelta

    from caredesk.db.models import Feedback

    assert (await gateway.get("/api/satisfaction")).status == 401
    await add_agent(sessions)
    await add_agent(sessions, "eli", "Eli")
    await log_in(gateway)

    def row(rating: int, subject: str, agent: str | None = None, days_ago: int = 0) -> Feedback:
        return Feedback(conversation_id="c_1", channel="webchat", rating=rating, comment=None, ticket_id=None,
                        handoff_id=None, subject=subject, agent_username=agent,
                        created_at=utcnow() - timedelta(days=days_ago))

    async with sessions.begin() as session:
        session.add_all([
            row(5, "agent", "dana"), row(4, "agent", "dana"), row(2, "agent", "dana"),
            row(5, "agent", "eli"),
            row(2, "bot"), row(3, "bot"), row(4, "bot"), row(5, "bot"),
            row(1, "bot", days_ago=40),  # outside the default 30 days
            row(3, "whole"),
        ])
    report = await (await gateway.get("/api/satisfaction")).json()
    assert report["days"] == 30
    assert report["bot"] == {"ratings": 4, "average": 3.5, "csat_percent": 50.0, "sample": 4, "small_sample": True}
    assert report["agents"] == [
        {"username": "dana", "name": "Dana", "ratings": 3, "average": 3.67, "csat_percent": 66.7,
         "sample": 3, "small_sample": True},
        {"username": "eli", "name": "Eli", "ratings": 1, "average": 5.0, "csat_percent": 100.0,
         "sample": 1, "small_sample": True},
    ]
    assert report["whole"] == {"ratings": 1, "average": 3.0, "csat_percent": 0.0, "sample": 1, "small_sample": True}
    longer = await (await gateway.get("/api/satisfaction?days=60")).json()
    assert longer["bot"]["ratings"] == 5
    for bad in ("0", "abc", "400"):
        refused = await gateway.get(f"/api/satisfaction?days={bad}")
        assert refused.status == 400 and "days" in (await refused.json())["error"]
