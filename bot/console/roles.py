"""Who may do what in the console and the JSON API: the permission matrix, in one place.

Roles: an `agent` works the queue and the chats they claimed; a `lead` can do that on any
chat (taking over from another agent too) and reads the reports; an `admin` can do
everything, plus agent management, the audit log and privacy requests; a `trainer` does
training work only and sees no conversations, no customer data and no reports (the reports
rate each agent by name, which a trainer has no need to read)."""
from __future__ import annotations

from typing import Protocol

ROLES = ("admin", "lead", "agent", "trainer")

# permission -> the roles that have it
PERMISSIONS: dict[str, frozenset[str]] = {
    # see the queue, conversations, tickets and feedback (customer data)
    "conversations": frozenset({"admin", "lead", "agent"}),
    # claim a waiting chat; reply, resolve, notes and ticket status on own or unclaimed chats
    "work": frozenset({"admin", "lead", "agent"}),
    # the same on any chat, including taking over a chat another agent claimed
    "work_any": frozenset({"admin", "lead"}),
    # give any waiting or claimed chat, or any ticket, to an agent or a team (an agent may
    # only pass on their own: to a team or back to the queue; bot/console/assign.py)
    "assign": frozenset({"admin", "lead"}),
    "reports": frozenset({"admin", "lead"}),
    # see which agents are online or away (every console sets its own status)
    "presence": frozenset({"admin", "lead"}),
    # add, change and delete canned replies (every agent who replies may search them)
    "canned_manage": frozenset({"admin", "lead"}),
    "agents": frozenset({"admin"}),
    "audit": frozenset({"admin"}),
    "privacy": frozenset({"admin"}),
    "training": frozenset({"admin", "lead", "trainer"}),
}


class HasRole(Protocol):
    role: str


class HasOwner(Protocol):
    mode: str
    agent_username: str | None


def can(agent: HasRole | None, permission: str) -> bool:
    """Whether `agent` (an Agent row or a console connection) has `permission`. An unknown
    permission is nobody's, so a typo refuses instead of allowing."""
    if agent is None:
        return False
    return agent.role in PERMISSIONS.get(permission, frozenset())


def permissions_of(role: str) -> list[str]:
    """What the console may show for this role (the server checks each action anyway)."""
    return sorted(name for name, roles in PERMISSIONS.items() if role in roles)


def claimed_by_other(username: str, conversation: HasOwner) -> bool:
    return conversation.mode == "agent" and conversation.agent_username not in (None, username)


def may_work_on(agent: HasRole, username: str, conversation: HasOwner) -> bool:
    """Notes, ticket status, replies and resolving: on a chat claimed by someone else only
    with `work_any`; otherwise with `work`."""
    if claimed_by_other(username, conversation):
        return can(agent, "work_any")
    return can(agent, "work")
