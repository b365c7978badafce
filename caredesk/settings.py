"""Settings of the action server and the database code, read from the environment once."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def async_database_url(url: str) -> str:
    """Turn a plain database URL (what people paste) into one with an asyncio driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


def demo_shop_wanted(environ: Mapping[str, str]) -> bool:
    """Whether `python -m caredesk.db migrate` adds the demo shop (with its VIP customer):
    DEMO_SHOP=true/false when set, else only on the embedded default (DATABASE_URL unset), so
    a real database never gets made-up customers. Read by the migrate command alone, so a
    typo here stops `make migrate`, not the running services."""
    value = environ.get("DEMO_SHOP", "").strip().lower()
    if not value:
        return not environ.get("DATABASE_URL")
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"DEMO_SHOP must be true or false, not {value!r}")


@dataclass(frozen=True)
class Settings:
    database_url: str = field(repr=False)
    company_file: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        default_db = f"sqlite:///{PROJECT_ROOT / 'var' / 'caredesk.db'}"
        company = Path(environ.get("COMPANY_FILE") or PROJECT_ROOT / "company.yml")
        if not company.is_absolute():
            company = PROJECT_ROOT / company
        return cls(
            database_url=async_database_url(environ.get("DATABASE_URL") or default_db),
            company_file=company,
        )

    def __repr__(self) -> str:
        shown = make_url(self.database_url).render_as_string(hide_password=True)
        return f"Settings(database_url={shown!r}, company_file={str(self.company_file)!r})"
