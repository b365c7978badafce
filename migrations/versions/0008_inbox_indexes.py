"""inbox indexes: a customer's tickets (the customer panel) and an agent's conversations (Mine)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 19:30:00
"""
from __future__ import annotations

from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tickets_customer_id', 'tickets', ['customer_id'])
    op.create_index('ix_conversations_agent_username', 'conversations', ['agent_username'])


def downgrade() -> None:
    op.drop_index('ix_conversations_agent_username', table_name='conversations')
    op.drop_index('ix_tickets_customer_id', table_name='tickets')
