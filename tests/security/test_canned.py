"""Canned replies as a way in: only leads and admins change them, from the console's own
origin, as JSON; hostile text is stored and returned as text, never as markup; bad fields
are refused before anything is written."""
from __future__ import annotations

import json

from sqlalchemy import select

from caredesk.db.models import AuditEntry, CannedReply
from tests.bot.canned_data import only_replies, shortcuts
from tests.bot.conftest import ORIGIN, add_agent

XSS = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


async def _rows(sessions) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return [tuple(r) for r in (await session.execute(
            select(CannedReply.shortcut, CannedReply.title, CannedReply.text).order_by(CannedReply.id))).all()]


async def test_an_agent_may_search_but_not_add_change_or_delete(gateway, sessions, sign_in) -> None:
    await only_replies(sessions, ("thanks", "Thanks", "Thank you!"))
    await add_agent(sessions, "dana", "Dana", role="agent")
    dana = await sign_in("dana")
    [reply] = (await (await dana.get("/api/canned")).json())["replies"]
    assert (await dana.post("/api/canned", json={"shortcut": "mine", "title": "M", "text": "Hi"})).status == 403
    assert (await dana.patch(f"/api/canned/{reply['id']}", json={"text": "Bye"})).status == 403
    assert (await dana.delete(f"/api/canned/{reply['id']}")).status == 403
    assert (await dana.get("/console/canned", allow_redirects=False)).status == 403
    assert await _rows(sessions) == [("thanks", "Thanks", "Thank you!")]
    async with sessions() as session:
        assert (await session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("canned%")))).all() == []


async def test_a_trainer_and_a_stranger_get_nothing(gateway, sessions, sign_in) -> None:
    await only_replies(sessions, ("thanks", "Thanks", "Thank you!"))
    await add_agent(sessions, "tess", "Tess", role="trainer")
    tess = await sign_in("tess")
    assert (await tess.get("/api/canned")).status == 403
    assert (await tess.post("/api/canned", json={"shortcut": "t", "title": "T", "text": "Hi"})).status == 403
    assert (await gateway.get("/api/canned")).status == 401
    assert (await gateway.post("/api/canned", json={"shortcut": "t", "title": "T", "text": "Hi"},
                               headers={"Origin": ORIGIN})).status == 401
    assert (await gateway.get("/console/canned", allow_redirects=False)).status == 302
    assert await shortcuts(sessions) == ["thanks"]


async def test_no_cross_site_or_form_writes(gateway, sessions, sign_in) -> None:
    await only_replies(sessions, ("thanks", "Thanks", "Thank you!"))
    await add_agent(sessions, "lee", "Lee", role="lead")
    lee = await sign_in("lee")
    [reply] = (await (await lee.get("/api/canned")).json())["replies"]
    evil = {"Origin": "http://evil.example"}
    assert (await lee.post("/api/canned", json={"shortcut": "evil", "title": "E", "text": "Hi"}, headers=evil)).status == 403
    assert (await lee.patch(f"/api/canned/{reply['id']}", json={"text": "pwned"}, headers=evil)).status == 403
    assert (await lee.delete(f"/api/canned/{reply['id']}", headers=evil)).status == 403
    # What a plain HTML form on any page can send: no JSON content type, so no write.
    form = await lee.post("/api/canned", data='{"shortcut": "form", "title": "F", "text": "Hi"}',
                          headers={"Content-Type": "text/plain"})
    assert form.status == 415 and (await form.json())["error"].startswith("send a JSON object")
    assert await _rows(sessions) == [("thanks", "Thanks", "Thank you!")]


async def test_markup_is_stored_and_returned_as_plain_text(gateway, sessions, sign_in) -> None:
    await only_replies(sessions)
    await add_agent(sessions, "ada", "Ada", role="admin")
    ada = await sign_in("ada")
    added = await ada.post("/api/canned", json={"shortcut": "xss", "title": XSS[:80], "text": XSS})
    assert added.status == 201 and added.content_type == "application/json"
    assert await _rows(sessions) == [("xss", XSS[:80], XSS)]
    [reply] = (await (await ada.get("/api/canned", params={"q": "<script>"})).json())["replies"]
    assert reply["text"] == XSS, "returned as a JSON string; the pages put it on screen with textContent"


async def test_oversize_invalid_and_unstorable_fields_are_refused(gateway, sessions, sign_in) -> None:
    await only_replies(sessions, ("thanks", "Thanks", "Thank you!"))
    await add_agent(sessions, "ada", "Ada", role="admin")
    ada = await sign_in("ada")
    [reply] = (await (await ada.get("/api/canned")).json())["replies"]
    refused = [
        {"shortcut": "a" * 33, "title": "T", "text": "Hi"},
        {"shortcut": "../etc", "title": "T", "text": "Hi"},
        {"shortcut": "UPPER", "title": "T", "text": "Hi"},
        {"shortcut": "", "title": "T", "text": "Hi"},
        {"shortcut": "nul", "title": "T", "text": "Hi\x00there"},
        {"shortcut": "sur", "title": "T\ud800", "text": "Hi"},
        {"shortcut": "esc", "title": "T", "text": "Hi\x1b[31m"},
        {"shortcut": "long", "title": "T" * 81, "text": "Hi"},
        {"shortcut": "big", "title": "T", "text": "x" * 2001},
        {"shortcut": ["list"], "title": "T", "text": "Hi"},
        {"title": "T", "text": "Hi"},
    ]
    for body in refused:
        answer = await ada.post("/api/canned", data=json.dumps(body), headers={"Content-Type": "application/json"})
        assert answer.status == 400, body
    for raw in ("[]", '"text"', "null", "{", ""):
        answer = await ada.post("/api/canned", data=raw, headers={"Content-Type": "application/json"})
        assert answer.status == 400 and (await answer.json())["error"] == "send a JSON object", raw
    assert (await ada.patch(f"/api/canned/{reply['id']}", json={"text": "y" * 2001})).status == 400
    assert (await ada.patch(f"/api/canned/{reply['id']}", json={"shortcut": "Nope!"})).status == 400
    for wrong_id in ("abc", "-1", "99999999999999999999", "%D9%A3"):  # the last: an Arabic-Indic digit
        assert (await ada.patch(f"/api/canned/{wrong_id}", json={"text": "Hi"})).status == 404, wrong_id
    assert (await ada.delete("/api/canned/1%00")).status == 400, "the edge refuses a NUL in the path"
    assert (await ada.get("/api/canned", params={"limit": "1e9"})).status == 400
    assert (await ada.get("/api/canned", params={"conversation_id": "c\x00"})).status == 400
    assert await _rows(sessions) == [("thanks", "Thanks", "Thank you!")]
