"""`python -m bot` manages agents from the command line: roles, (de)activation and password
resets, audited as "cli"; passwords come from standard input, never the command line."""
from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from caredesk.db.models import Agent, AgentSession, AuditEntry, utcnow
from caredesk.settings import PROJECT_ROOT
from bot.console import auth, passwords
from tests.bot.conftest import PASSWORD


def bot(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, text=True, env=env,
                          cwd=PROJECT_ROOT, capture_output=True, timeout=60)


async def test_agents_are_managed_on_the_command_line(sessions, database_url: str) -> None:
    first = bot(database_url, "create-agent", "ada", "--name", "Ada", "--password-stdin", stdin=PASSWORD + "\n")
    assert first.returncode == 0 and "role admin" in first.stdout, "the first account becomes the admin"
    second = bot(database_url, "create-agent", "eli", "--name", "Eli", "--password-stdin", stdin=PASSWORD + "\n")
    assert second.returncode == 0 and "role agent" in second.stdout
    assert bot(database_url, "create-agent", "tess", "--name", "Tess", "--role", "trainer", "--password-stdin",
               stdin=PASSWORD + "\n").returncode == 0

    refused = bot(database_url, "deactivate", "ada")
    assert refused.returncode != 0 and "last active admin" in refused.stderr and "Traceback" not in refused.stderr
    assert bot(database_url, "set-role", "eli", "lead").returncode == 0
    bad_role = bot(database_url, "set-role", "eli", "root")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    missing = bot(database_url, "activate", "nobody")
    assert missing.returncode == 1 and "no agent called 'nobody'" in missing.stderr

    async with sessions.begin() as session:
        eli = await session.scalar(select(Agent).where(Agent.username == "eli"))
        await auth.start_session(session, eli, 1)
    short = bot(database_url, "reset-password", "eli", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 10" in short.stderr
    assert bot(database_url, "reset-password", "eli", "--password-stdin", stdin="a new long password\n").returncode == 0
    assert bot(database_url, "deactivate", "eli").returncode == 0
    listed = bot(database_url, "list-agents")
    assert listed.returncode == 0
    lines = {line.split()[0]: line.split()[1:3] for line in listed.stdout.splitlines()[1:]}
    assert lines == {"ada": ["admin", "yes"], "eli": ["lead", "no"], "tess": ["trainer", "yes"]}

    async with sessions() as session:
        eli = await session.scalar(select(Agent).where(Agent.username == "eli"))
        assert eli.active is False and passwords.verify(eli.password_hash, "a new long password"), "reset, then deactivated"
        assert (await session.scalars(select(AgentSession).where(AgentSession.agent_id == eli.id))).all() == []
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert {e.actor for e in entries} == {"cli"}
    assert [(e.action, e.target) for e in entries] == [
        ("agent_add", "ada"), ("agent_add", "eli"), ("agent_add", "tess"), ("agent_change", "eli"),
        ("agent_password_reset", "eli"), ("agent_change", "eli"),
    ]
    assert all(e.at <= utcnow() for e in entries)
    assert "a new long password" not in str([(e.detail, e.target) for e in entries])
