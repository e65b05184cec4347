"""a workspace's language and each member's Slack locale, for messages in the reader's language

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 21:00:00

workspace.language ("en" or "zh-CN", from `[workspace] language`) is what channel messages are written in, and
anyone's whose Slack locale is not known; member.locale caches users.info's locale with the rest of the profile.
Existing workspaces are English, as they were; members' locales are read at their next profile refresh.
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False, server_default='en'))
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_column('language')
