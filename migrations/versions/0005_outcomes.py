"""outcomes: what became of each customer line (re-driven to the bot until it has one), and
why a hand-off ended without a person

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PENDING = sa.text("sender = 'customer' AND outcome IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=12), nullable=True))
    # Lines stored before outcomes were kept are not sent to the bot again: an answer to a
    # message of last month would only puzzle the customer.
    op.execute("UPDATE messages SET outcome = 'migrated' WHERE sender = 'customer'")
    op.create_index('ix_messages_pending', 'messages', ['conversation_id', 'id'], unique=False,
                    sqlite_where=PENDING, postgresql_where=PENDING)
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_reason', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_column('end_reason')
    op.drop_index('ix_messages_pending', table_name='messages')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('outcome')
