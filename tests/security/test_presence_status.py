"""The console's `status` frame (bot/console/presence.py) is a way in: a console sets its own
agent's status and nobody else's, only to online or away, and an agent (not a lead) is never
sent who else is at the desk. A refused frame changes nothing, and the nobody-is-online count
stays what the agents themselves said."""
from __future__ import annotations

import pytest

from bot.app_keys import HUB
from tests.bot.conftest import add_agent
from tests.security.conftest import answer, open_console, quiet


async def test_a_console_cannot_set_another_agents_status(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "lee", "Lee", role="lead")
    dana, _ = await open_console(await sign_in("dana"))
    lee, _ = await open_console(await sign_in("lee"))
    hub = gateway.server.app[HUB]

    for other in ("lee", "LEE", "lee ", "", None, ["lee"], {"username": "lee"}):
        refused = await answer(dana, {"type": "status", "status": "away", "username": other}, until=("error", "status"))
        assert refused["type"] == "error", other
    assert {u: s.status for u, s in hub.presence().items()} == {"dana": "online", "lee": "online"}
    assert hub.agents_online() == 2
    assert not [f for f in await quiet(lee) if f["type"] == "status"], "lee's console was not touched"

    # Naming oneself is allowed, and changes oneself only.
    ok = await answer(dana, {"type": "status", "status": "away", "username": "dana"}, until=("error", "status"))
    assert ok == {"type": "status", "status": "away"}
    assert {u: s.status for u, s in hub.presence().items()} == {"dana": "away", "lee": "online"}


@pytest.mark.parametrize("status", ["offline", "busy", "ONLINE", " away", "", None, 1, True, ["away"],
                                    {"status": "away"}, "away" * 1000, "online\x00"])
async def test_status_values_outside_the_enum_are_refused(gateway, sessions, sign_in, status) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    dana, _ = await open_console(await sign_in("dana"))
    hub = gateway.server.app[HUB]
    await answer(dana, {"type": "status", "status": "away"}, until=("status",))
    refused = await answer(dana, {"type": "status", "status": status}, until=("error", "status"))
    assert refused["type"] == "error"
    assert hub.presence()["dana"].status == "away" and hub.agents_online() == 0


async def test_an_agent_is_not_sent_the_teams_presence(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "lee", "Lee", role="lead")
    dana, _ = await open_console(await sign_in("dana"))
    lee, _ = await open_console(await sign_in("lee"))
    await answer(lee, {"type": "status", "status": "away"}, until=("status",))
    assert all(f["type"] != "agents" for f in await quiet(dana, 0.8))
    assert any(f["type"] == "agents" for f in await quiet(lee, 0.8))
