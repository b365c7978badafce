"""The JSON API of assignment and teams, behind the console's login (state-changing requests
also behind its origin check, like every console write): who can be given chats, giving a
chat or a ticket to an agent or a team, and the admins' team management. Every field is
checked here (type, length) before bot/console/assign.py checks who may do what."""
from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from caredesk.db import repository
from bot.app_keys import DESK, FANOUT, HUB, SESSIONS
from bot.console import agents, assign, audit, teams
from bot.console.auto_assign import available_agents
from bot.console.guard import AGENT, json_error, json_object, requires
from bot.console.inbox_api import CONVERSATION_ID, MAX_ID, NUMBER, USERNAME
from bot.console.roles import can
from bot.console.tickets import ticket_detail
from bot.text_input import clean, has_forbidden

TEAM_ID = re.compile(r"[0-9]{1,10}")


def _team_id(value: Any) -> int | None:
    """A team's id as a client sent it: a whole number in the ids' range, or null."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise json_error(web.HTTPBadRequest, "'team_id' must be a team's id or null")
    return value



def _target(body: dict[str, Any]) -> tuple[assign.Target, Any]:
    """`agent` (a username) and/or `team_id` (a whole number), either may be null; and `note`."""
    agent, team_id, note = body.get("agent"), _team_id(body.get("team_id")), body.get("note")
    if agent is not None and (not isinstance(agent, str) or not USERNAME.fullmatch(agent)):
        raise json_error(web.HTTPBadRequest, "'agent' must be an agent's username or null")
    if note is not None:
        if not isinstance(note, str) or has_forbidden(note):
            raise json_error(web.HTTPBadRequest, "'note' must be text")
        note = clean(note)
    return assign.Target(agent=agent, team_id=team_id), note


def _refused(error: assign.DeskError) -> web.HTTPException:
    status = {assign.Invalid: web.HTTPBadRequest, assign.Conflict: web.HTTPConflict}.get(
        type(error), web.HTTPForbidden)
    return json_error(status, str(error))


@requires("conversations")
async def assign_choices(request: web.Request) -> web.Response:
    """GET /api/assign/choices: the agents (open chats, online) and teams the Assign control offers."""
    online = available_agents(request.app[HUB], request.app.get(FANOUT))
    async with request.app[SESSIONS]() as session:
        found = await assign.choices(session, online)
        me = await agents.find(session, request[AGENT].username)
        found["me"] = {"username": me.username, "team_id": me.team_id, "assign": can(me, "assign")}
    return web.json_response(found)


@requires("work")
async def assign_conversation(request: web.Request) -> web.Response:
    """POST /api/conversations/{conversation_id}/assign {"agent", "team_id", "note"}"""
    conversation_id = request.match_info["conversation_id"]
    if not CONVERSATION_ID.fullmatch(conversation_id):
        raise json_error(web.HTTPNotFound, "no such conversation")
    target, note = _target(await json_object(request))
    try:
        done = await assign.assign_conversation(request.app[DESK], request[AGENT], conversation_id, target, note,
                                                audit.client_address(request))
    except assign.DeskError as error:
        raise _refused(error) from None
    return web.json_response({"conversation_id": conversation_id,
                              "agent": done.agent.username if done.agent else None,
                              "team_id": done.team.id if done.team else None,
                              "state": done.change.state if done.change else None})


@requires("work")
async def assign_ticket(request: web.Request) -> web.Response:
    """POST /api/inbox/tickets/{number}/assign {"agent", "team_id", "note"}: the ticket as GET shows it."""
    number = request.match_info["number"]
    if not NUMBER.fullmatch(number):
        raise json_error(web.HTTPNotFound, "no such ticket")
    target, note = _target(await json_object(request))
    try:
        await assign.assign_ticket(request.app[DESK], request[AGENT], number, target, note,
                                   audit.client_address(request))
    except repository.TicketNotFound:
        raise json_error(web.HTTPNotFound, "no such ticket") from None
    except assign.DeskError as error:
        raise _refused(error) from None
    async with request.app[SESSIONS]() as session:
        return web.json_response(await ticket_detail(session, number))


def _team_error(error: agents.AgentError) -> web.HTTPException:
    status = {404: web.HTTPNotFound, 409: web.HTTPConflict}.get(error.status, web.HTTPBadRequest)
    return json_error(status, str(error))


@requires("conversations")
async def list_teams(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        return web.json_response(await teams.list_teams(session))


@requires("agents")
async def add_team(request: web.Request) -> web.Response:
    """POST /api/teams {"name"}"""
    name = (await json_object(request)).get("name")
    if not isinstance(name, str) or has_forbidden(name):
        raise json_error(web.HTTPBadRequest, "'name' must be a string")
    try:
        async with request.app[SESSIONS].begin() as session:
            team = await teams.add_team(session, name, request[AGENT].username, audit.client_address(request))
            frame = teams.team_frame(team)
    except agents.AgentError as error:
        raise _team_error(error) from None
    return web.json_response(frame, status=201)


@requires("agents")
async def remove_team(request: web.Request) -> web.Response:
    """DELETE /api/teams/{id}: its agents, chats and tickets keep going, in no team."""
    raw = request.match_info["id"]
    if not TEAM_ID.fullmatch(raw) or int(raw) > MAX_ID:
        raise json_error(web.HTTPNotFound, "there is no such team")
    try:
        async with request.app[SESSIONS].begin() as session:
            await teams.remove_team(session, int(raw), request[AGENT].username, audit.client_address(request))
    except agents.AgentError as error:
        raise _team_error(error) from None
    await request.app[DESK].publish_queue()
    return web.json_response({"id": int(raw), "removed": True})


@requires("agents")
async def set_agent_team(request: web.Request) -> web.Response:
    """PUT /api/agents/{username}/team {"team_id": id or null}"""
    team_id = _team_id((await json_object(request)).get("team_id"))
    try:
        async with request.app[SESSIONS].begin() as session:
            agent = await agents.find(session, request.match_info["username"])
            await teams.set_team(session, agent, team_id, request[AGENT].username, audit.client_address(request))
            frame = agents.agent_frame(agent)
    except agents.AgentError as error:
        raise _team_error(error) from None
    return web.json_response(frame)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/assign/choices", assign_choices)
    app.router.add_post("/api/conversations/{conversation_id}/assign", assign_conversation)
    app.router.add_post("/api/inbox/tickets/{number}/assign", assign_ticket)
    app.router.add_get("/api/teams", list_teams)
    app.router.add_post("/api/teams", add_team)
    app.router.add_delete("/api/teams/{id}", remove_team)
    app.router.add_put("/api/agents/{username}/team", set_agent_team)
