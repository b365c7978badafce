"""`python3 docker/make_env.py [--dir DIR]`: the env files docker-compose.yml reads, written
from docker/.env.example with fresh random secrets.

One template holds every setting, grouped by the file (and so the services) that gets it; this
splits it into DIR/<file>, fills each {random} with its own random value and every
{db_password} with one password shared by the database URLs and PostgreSQL's own setting, so
they cannot disagree. An existing file is left alone, so running it again never changes a
secret a running deployment uses. Files are written readable by their owner only. Only the
standard library: it runs with any Python 3 on the host, before any image exists."""
from __future__ import annotations

import argparse
import os
import re
import secrets
from pathlib import Path

DOCKER_DIR = Path(__file__).resolve().parent
TEMPLATE = DOCKER_DIR / ".env.example"
SECTION = re.compile(r"^## ([\w.-]+\.env)\b")


def sections(template: str) -> dict[str, list[str]]:
    """The template's lines, by the file named in the `## <file>` line above them."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in template.splitlines():
        match = SECTION.match(line)
        if match:
            current = found.setdefault(match.group(1), [])
        if current is not None:
            current.append(line)
    return found


def fill(lines: list[str], db_password: str) -> str:
    """The lines with their placeholders replaced; secrets are URL-safe, so they fit in URLs."""
    filled = [re.sub(r"\{random\}", lambda _: secrets.token_urlsafe(32), line).replace("{db_password}", db_password)
              for line in lines]
    return "\n".join(filled) + "\n"


def write_env_files(directory: Path, template: str) -> list[Path]:
    """Write the missing env files; returns the ones written."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = directory / "postgres.env"
    db_password = _password_in(existing) if existing.exists() else secrets.token_urlsafe(24)
    written = []
    for name, lines in sections(template).items():
        path = directory / name
        if path.exists():
            continue
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(fill(lines, db_password))
        written.append(path)
    return written


def _password_in(postgres_env: Path) -> str:
    """The database password already chosen, so a file added later agrees with it."""
    for line in postgres_env.read_text(encoding="utf-8").splitlines():
        if line.startswith("POSTGRES_PASSWORD="):
            return line.split("=", 1)[1].strip()
    raise SystemExit(f"{postgres_env} has no POSTGRES_PASSWORD")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 docker/make_env.py", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DOCKER_DIR / "env", help="where to write (default: docker/env)")
    args = parser.parse_args()
    written = write_env_files(args.dir, TEMPLATE.read_text(encoding="utf-8"))
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"nothing to do: every env file is already in {args.dir}")


if __name__ == "__main__":
    main()
