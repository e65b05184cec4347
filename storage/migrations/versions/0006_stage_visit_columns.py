"""stage changes carry what their visit needs: when it ended, whether the deal advanced, first visits

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:40:00
"""
import sqlalchemy as sa
from alembic import op

from storage import visits
from storage.types import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stage_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('left_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('advanced', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('first_visit', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('first_visit_of_owner', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Existing histories get their derived columns in one pass; from now on each change keeps them.
    visits.derive(op.get_bind(), columns=('left_at', 'advanced', 'first_visit', 'first_visit_of_owner'), by_pipeline=False)


def downgrade() -> None:
    with op.batch_alter_table('stage_change', schema=None) as batch_op:
        batch_op.drop_column('first_visit_of_owner')
        batch_op.drop_column('first_visit')
        batch_op.drop_column('advanced')
        batch_op.drop_column('left_at')
