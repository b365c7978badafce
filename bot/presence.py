"""Who is at the desk. Each open console says whether its agent is "online" (taking chats) or
"away" (the console stays open, the queue keeps coming, but nobody should count on them);
"offline" is no console open at all. An agent with several consoles, on one gateway or on
several (bot/fanout.py), is online when any of them is: away is a promise not to be counted,
and one tab left on away must not hide a colleague who is working in another.

Only online agents count for the "nobody is online" promise (bot/no_agent.py): a customer
must never wait for someone who said they are away.

What one gateway shares with the others is one entry of the fan-out's presence hash:
`{"agents": [...], "away": [...], "names": {...}}`. `agents` lists every username with a
console open, as gateways before presence wrote it (they still read it, and count an away
agent as online until they are upgraded); `away` and `names` are new and optional."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)
ONLINE, AWAY = "online", "away"
STATUSES = (ONLINE, AWAY)  # what a console may say; "offline" is said by closing it
MAX_NAME = 120  # an agent's display name, as the agents table keeps it


class HasPresence(Protocol):
    username: str
    name: str
    status: str


@dataclass(frozen=True)
class Seen:
    """One agent as the desk sees them now."""

    name: str
    status: str


def add(view: dict[str, Seen], username: str, name: str, status: str) -> None:
    """Merge one console into `view`: online wins over away."""
    before = view.get(username)
    if before is None or (before.status != ONLINE and status == ONLINE):
        view[username] = Seen(name or (before.name if before else username), status)


def of_connections(connections: Iterable[HasPresence]) -> dict[str, Seen]:
    view: dict[str, Seen] = {}
    for connection in connections:
        add(view, connection.username, connection.name, connection.status if connection.status in STATUSES else ONLINE)
    return view


def merged(*views: Mapping[str, Seen]) -> dict[str, Seen]:
    result: dict[str, Seen] = {}
    for view in views:
        for username, seen in view.items():
            add(result, username, seen.name, seen.status)
    return result


def entry(view: Mapping[str, Seen]) -> dict[str, Any]:
    """This gateway's presence entry for the others (without its deadline, which Redis adds)."""
    usernames = sorted(view)
    return {"agents": usernames, "away": [u for u in usernames if view[u].status == AWAY],
            "names": {u: view[u].name for u in usernames}}


def read_entry(raw: Any) -> dict[str, Seen]:
    """Another gateway's entry, from any version: a missing or odd `away` or `names` reads
    as everyone online under their username; a malformed entry as nobody."""
    if not isinstance(raw, dict) or not isinstance(raw.get("agents"), list):
        return {}
    away = raw.get("away")
    away_set = {u for u in away if isinstance(u, str)} if isinstance(away, list) else set()
    names = raw.get("names") if isinstance(raw.get("names"), dict) else {}
    view: dict[str, Seen] = {}
    for username in raw["agents"]:
        if not isinstance(username, str) or not username:
            continue
        name = names.get(username)
        add(view, username, name[:MAX_NAME] if isinstance(name, str) and name else username,
            AWAY if username in away_set else ONLINE)
    return view


def online_count(view: Mapping[str, Seen]) -> int:
    return sum(1 for seen in view.values() if seen.status == ONLINE)


def frame(view: Mapping[str, Seen]) -> dict[str, Any]:
    """The consoles' `agents` frame: who is online or away, by name (leads see it)."""
    agents = [{"username": u, "name": s.name, "status": s.status} for u, s in view.items()]
    agents.sort(key=lambda a: (a["name"].casefold(), a["username"]))
    return {"type": "agents", "agents": agents}
