"""stage changes mark each deal's furthest visit, so the funnel reads how far a deal got from its visits

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 19:00:00
"""
import sqlalchemy as sa
from alembic import op

from storage import visits

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stage_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('furthest_visit', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Existing histories get the column in one pass; from now on each change keeps it.
    visits.derive(op.get_bind(), columns=('furthest_visit',), by_pipeline=False)


def downgrade() -> None:
    with op.batch_alter_table('stage_change', schema=None) as batch_op:
        batch_op.drop_column('furthest_visit')
