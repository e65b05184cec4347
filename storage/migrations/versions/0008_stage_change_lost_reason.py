"""stage changes to Lost keep the close's lost reason, so a reopened deal keeps its history

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 18:30:00

Until now the reason lived only on the opportunity row, overwritten when the deal was lost again and
cleared when it was reopened. What is still there is copied: each deal lost today gets its current
lost_reason on its latest change to Lost. The reasons of older closes (of deals reopened since, or
lost more than once) are gone and cannot be recovered: those changes keep a NULL reason, which the
loss-reason figures count as "no reason recorded".
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stage_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lost_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
    # One statement, the same on SQLite and PostgreSQL: the latest change to Lost of each deal that is lost now.
    op.execute(sa.text(
        "UPDATE stage_change SET lost_reason = ("
        "  SELECT o.lost_reason FROM opportunity o"
        "  WHERE o.id = stage_change.opportunity_id AND o.team_id = stage_change.team_id AND o.status = 'lost')"
        " WHERE stage_change.to_status = 'lost'"
        " AND stage_change.id = ("
        "  SELECT latest.id FROM stage_change latest"
        "  WHERE latest.team_id = stage_change.team_id AND latest.opportunity_id = stage_change.opportunity_id"
        "  AND latest.to_status = 'lost'"
        "  ORDER BY latest.changed_at DESC, latest.id DESC LIMIT 1)"
    ))


def downgrade() -> None:
    with op.batch_alter_table('stage_change', schema=None) as batch_op:
        batch_op.drop_column('lost_reason')
