"""teams and assignment: teams, an agent's team, a hand-off's and a ticket's team, a ticket's assignee

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03 20:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'teams',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    with op.batch_alter_table('agents') as batch:
        batch.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_agents_team_id', 'teams', ['team_id'], ['id'])
    with op.batch_alter_table('handoffs') as batch:
        batch.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_handoffs_team_id', 'teams', ['team_id'], ['id'])
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('assignee_username', sa.String(length=64), nullable=True))
        batch.create_foreign_key('fk_tickets_team_id', 'teams', ['team_id'], ['id'])
    op.create_index('ix_tickets_assignee_username', 'tickets', ['assignee_username'])


def downgrade() -> None:
    op.drop_index('ix_tickets_assignee_username', table_name='tickets')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_constraint('fk_tickets_team_id', type_='foreignkey')
        batch.drop_column('assignee_username')
        batch.drop_column('team_id')
    with op.batch_alter_table('handoffs') as batch:
        batch.drop_constraint('fk_handoffs_team_id', type_='foreignkey')
        batch.drop_column('team_id')
    with op.batch_alter_table('agents') as batch:
        batch.drop_constraint('fk_agents_team_id', type_='foreignkey')
        batch.drop_column('team_id')
    op.drop_table('teams')
