"""conversation events: every change of who is talking to the customer, kept in order

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 17:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'conversation_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('transition', sa.String(length=24), nullable=False),
        sa.Column('from_state', sa.String(length=8), nullable=False),
        sa.Column('to_state', sa.String(length=8), nullable=False),
        sa.Column('actor', sa.String(length=80), nullable=False),
        sa.Column('handoff_id', sa.Integer(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_conversation_events_conversation_id', 'conversation_events', ['conversation_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_conversation_events_conversation_id', table_name='conversation_events')
    op.drop_table('conversation_events')
