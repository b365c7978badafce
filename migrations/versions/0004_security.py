"""security: agent roles and the audit log, idle console sessions, one rating per hand-off,
expiring web-chat resume tokens, and failed identity checks (to limit guessing)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:30:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

HANDOFF_SET = sa.text("handoff_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), nullable=False, server_default='agent'))
        batch_op.create_check_constraint('agent_role', "role in ('admin', 'lead', 'agent', 'trainer')")
    # Before roles every agent could do everything: the first active account becomes the admin,
    # so somebody can manage the others; the rest are agents.
    op.execute(
        "UPDATE agents SET role = 'admin' WHERE id = "
        "(SELECT min(id) FROM agents WHERE active = true)"
    )
    with op.batch_alter_table('agent_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rating_asked_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resume_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('resume_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_conversations_resume_token_hash'), ['resume_token_hash'], unique=True)
    # Replayed hand-off endings could rate one agent several times; keep each part's first rating.
    op.execute(
        "DELETE FROM feedback WHERE handoff_id IS NOT NULL AND id NOT IN "
        "(SELECT min(id) FROM feedback WHERE handoff_id IS NOT NULL GROUP BY handoff_id, subject)"
    )
    op.create_index('uq_feedback_handoff_subject', 'feedback', ['handoff_id', 'subject'], unique=True,
                    sqlite_where=HANDOFF_SET, postgresql_where=HANDOFF_SET)
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=48), nullable=False),
        sa.Column('target', sa.String(length=255), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_table(
        'failed_checks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_failed_checks_kind_key_at', 'failed_checks', ['kind', 'key', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_failed_checks_kind_key_at', table_name='failed_checks')
    op.drop_table('failed_checks')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index('uq_feedback_handoff_subject', table_name='feedback')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversations_resume_token_hash'))
        batch_op.drop_column('resume_expires_at')
        batch_op.drop_column('resume_token_hash')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_column('rating_asked_at')
    with op.batch_alter_table('agent_sessions', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_constraint('agent_role', type_='check')
        batch_op.drop_column('role')
