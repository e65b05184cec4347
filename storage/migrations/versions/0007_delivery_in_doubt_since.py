"""deliveries remember since when an attempt's outcome is unknown

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:30:00
"""
import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows claimed when the upgrade runs were claimed by the old code, which posted without metadata:
    # there is nothing to look for, so they start with no doubt.
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_doubt_since', UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('in_doubt_since')
