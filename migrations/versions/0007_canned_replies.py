"""canned replies: stored in the database, managed in the console; seeded from the YAML file

The rows are seeded once, here, from bot/console/canned_replies.yml (its `key` becomes the
shortcut). From then on the database is the one source: the gateway never reads the file,
and edits happen in the console (/console/canned).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 19:30:00
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from alembic import op
import sqlalchemy as sa
import yaml


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

SEED_FILE = Path(__file__).resolve().parents[2] / 'bot' / 'console' / 'canned_replies.yml'
SHORTCUT = re.compile(r'[a-z0-9_-]{1,32}')


def _seed_rows() -> list[dict[str, Any]]:
    """The file's replies that are valid rows; a missing file seeds nothing."""
    if not SEED_FILE.exists():
        return []
    entries = (yaml.safe_load(SEED_FILE.read_text(encoding='utf-8')) or {}).get('canned_replies') or []
    now, rows, seen = dt.datetime.now(dt.timezone.utc), [], set()
    for entry in entries:
        shortcut = str(entry.get('key', '')).strip().lower().replace(' ', '_')
        text = str(entry.get('text', '')).strip()
        if not SHORTCUT.fullmatch(shortcut) or shortcut in seen or not 0 < len(text) <= 2000:
            continue
        seen.add(shortcut)
        title = str(entry.get('title') or shortcut)[:80]
        rows.append({'shortcut': shortcut, 'title': title, 'text': text, 'created_at': now,
                     'created_by': 'migration', 'updated_at': now, 'updated_by': 'migration'})
    return rows


def upgrade() -> None:
    table = op.create_table(
        'canned_replies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('shortcut', sa.String(length=32), nullable=False),
        sa.Column('title', sa.String(length=80), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.CheckConstraint('length(text) between 1 and 2000', name='canned_reply_text'),
        sa.CheckConstraint('length(shortcut) between 1 and 32', name='canned_reply_shortcut'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('shortcut'),
    )
    rows = _seed_rows()
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table('canned_replies')
