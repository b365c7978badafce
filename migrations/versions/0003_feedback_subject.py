"""feedback: what each rating is about (the bot or the agent who took over); hand-offs:
the username of the agent who claimed them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 12:30:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Ratings stored before this revision answered one question about the whole conversation.
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=8), nullable=False, server_default='whole'))
        batch_op.add_column(sa.Column('agent_username', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_feedback_agent_username'), ['agent_username'], unique=False)
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agent_username', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_column('agent_username')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_agent_username'))
        batch_op.drop_column('agent_username')
        batch_op.drop_column('subject')
