"""The canned replies' JSON API (/api/canned) and their management page (/console/canned).

Every agent who replies may search them, with the placeholders filled for the conversation
they have open; only `canned_manage` (admins and leads) may add, change or delete. Writes
come only from the console's own origins (the guard), as JSON objects."""
from __future__ import annotations


from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot.app_keys import ROUTER, SESSIONS
from bot.console import audit, canned
from bot.console.guard import AGENT, json_error, json_object, page_for, requires, text_field
from bot.console.placeholders import conversation_values, fill
from bot.console.roles import can
from bot.console.views import PAGES
from bot import store
from bot.text_input import has_forbidden




def _reply_id(request: web.Request) -> int:
    raw = request.match_info["reply_id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise json_error(web.HTTPNotFound, "no such canned reply")
    return int(raw)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    if not raw:
        return canned.PAGE
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= canned.MAX_PAGE):
        raise json_error(web.HTTPBadRequest, f"limit must be a whole number from 1 to {canned.MAX_PAGE}")
    return int(raw)


def _refused(error: canned.CannedError) -> web.HTTPException:
    status = {404: web.HTTPNotFound, 409: web.HTTPConflict}.get(error.status, web.HTTPBadRequest)
    return json_error(status, str(error))


@requires("conversations")
async def list_replies(request: web.Request) -> web.Response:
    """`q` searches shortcut, title and text; with `conversation_id`, each reply also comes
    `filled` for that conversation (a placeholder without a value becomes a gap marker)."""
    query = request.query.get("q", "")
    if len(query) > canned.MAX_QUERY:
        raise json_error(web.HTTPBadRequest, f"q can be at most {canned.MAX_QUERY} characters")
    limit = _limit(request)
    conversation_id = request.query.get("conversation_id", "")
    agent = request[AGENT]
    async with request.app[SESSIONS]() as session:
        replies = [canned.reply_frame(r) for r in await canned.search(session, query, limit)]
        if conversation_id:
            if has_forbidden(conversation_id) or len(conversation_id) > 64 or \
                    await store.conversation(session, conversation_id) is None:
                raise json_error(web.HTTPNotFound, "that conversation does not exist")
            values = await conversation_values(session, conversation_id, agent_name=agent.name,
                                               company=request.app[ROUTER].company)
            for reply in replies:
                reply["filled"] = fill(reply["text"], values)
    return web.json_response({"replies": replies, "can_manage": can(agent, "canned_manage")})


@requires("canned_manage")
async def add_reply(request: web.Request) -> web.Response:
    body = await json_object(request)
    shortcut, title, text = (text_field(body, k, required=True) or "" for k in ("shortcut", "title", "text"))
    try:
        async with request.app[SESSIONS].begin() as session:
            reply = await canned.add(session, shortcut=shortcut.strip(), title=title, text=text,
                                     actor=request[AGENT].username, address=audit.client_address(request))
            frame = canned.reply_frame(reply)
    except canned.CannedError as error:
        raise _refused(error) from None
    except IntegrityError:  # the same shortcut added at the same moment
        raise json_error(web.HTTPConflict, f"the shortcut /{shortcut.strip()} is taken") from None
    return web.json_response(frame, status=201)


@requires("canned_manage")
async def change_reply(request: web.Request) -> web.Response:
    reply_id = _reply_id(request)
    body = await json_object(request)
    shortcut, title, text = (text_field(body, k, required=False) for k in ("shortcut", "title", "text"))
    try:
        async with request.app[SESSIONS].begin() as session:
            reply = await canned.change(session, reply_id, actor=request[AGENT].username,
                                        address=audit.client_address(request),
                                        shortcut=None if shortcut is None else shortcut.strip(), title=title, text=text)
            frame = canned.reply_frame(reply)
    except canned.CannedError as error:
        raise _refused(error) from None
    except IntegrityError:
        raise json_error(web.HTTPConflict, "that shortcut is taken") from None
    return web.json_response(frame)


@requires("canned_manage")
async def delete_reply(request: web.Request) -> web.Response:
    reply_id = _reply_id(request)
    try:
        async with request.app[SESSIONS].begin() as session:
            await canned.delete(session, reply_id, actor=request[AGENT].username,
                                address=audit.client_address(request))
    except canned.CannedError as error:
        raise _refused(error) from None
    return web.json_response({"id": reply_id, "deleted": True})


async def canned_page(request: web.Request) -> web.StreamResponse:
    """Admins and leads manage the canned replies (the page uses /api/canned)."""
    await page_for(request, "canned_manage")
    return web.FileResponse(PAGES / "canned.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console/canned", canned_page)
    app.router.add_get("/api/canned", list_replies)
    app.router.add_post("/api/canned", add_reply)
    app.router.add_patch("/api/canned/{reply_id}", change_reply)
    app.router.add_delete("/api/canned/{reply_id}", delete_reply)
