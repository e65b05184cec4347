"""workspaces keep their exchange rates into the workspace currency, with the date each was set

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 20:30:00

A JSON object per workspace, {"EUR": {"rate": "7.82", "set_on": "2026-11-30", "set_by": "U0123"}}: the
rate is a decimal string, so it stays exact on SQLite (which keeps NUMERIC as REAL). Existing
workspaces start with no rates: every other currency is shown as its own subtotal, as before.
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exchange_rates', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_column('exchange_rates')
