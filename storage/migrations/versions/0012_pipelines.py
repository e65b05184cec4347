"""several pipelines in one workspace: each with its own stages and announcement channels

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 01:00:00

A `pipeline` table; every stage belongs to one (`stage.pipeline_id`), so a deal's pipeline is its stage's, and
stage names are unique within a pipeline rather than the workspace. Each workspace's existing stages become one
pipeline, named in the workspace's language (Sales / 销售), which takes over the workspace's won and lost
announcement channels. `sales_team.pipeline_id` is a team's default pipeline (NULL: the workspace's first).
Nothing about a deal or its history changes: with one pipeline per workspace, the derived visit columns
(storage.visits, now computed per deal and pipeline) keep their values.

SQLite rebuilds `stage` to change its unique constraint: storage.db.upgrade runs migrations with foreign keys off
(checked with `PRAGMA foreign_key_check` before committing), as SQLite's documentation asks for such a rebuild.
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# The name of the pipeline a workspace's existing stages become (bot.workspace.config.DEFAULT_PIPELINE_NAMES at 0012).
DEFAULT_NAMES = {"en": "Sales", "zh-CN": "销售"}
# SQLite's constraints have no names: these name them for the rebuild.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    pipeline = op.create_table(
        'pipeline',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('won_channel', sqlmodel.sql.sqltypes.AutoString(length=90), nullable=True),
        sa.Column('won_channel_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('lost_channel', sqlmodel.sql.sqltypes.AutoString(length=90), nullable=True),
        sa.Column('lost_channel_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('team_id', 'name'),
    )
    workspace = sa.table('workspace', sa.column('team_id'), sa.column('language'), sa.column('won_channel'), sa.column('won_channel_id'),
                         sa.column('lost_channel'), sa.column('lost_channel_id'))
    stage = sa.table('stage', sa.column('team_id'), sa.column('pipeline_id'))
    rows = [{"team_id": w.team_id, "position": 0, "name": DEFAULT_NAMES.get(w.language, DEFAULT_NAMES["en"]), "description": "",
             "won_channel": w.won_channel, "won_channel_id": w.won_channel_id, "lost_channel": w.lost_channel,
             "lost_channel_id": w.lost_channel_id, "active": True}
            for w in bind.execute(sa.select(workspace).order_by(workspace.c.team_id))]
    known = {row["team_id"] for row in rows}
    # stages of a workspace row that is gone (not made by oppbot, but kept readable all the same)
    rows += [{"team_id": team_id, "position": 0, "name": DEFAULT_NAMES["en"], "description": "", "won_channel": None, "won_channel_id": None,
              "lost_channel": None, "lost_channel_id": None, "active": True}
             for team_id in bind.scalars(sa.select(stage.c.team_id).distinct().order_by(stage.c.team_id)) if team_id not in known]
    if rows:
        op.bulk_insert(pipeline, rows)

    with op.batch_alter_table('stage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pipeline_id', sa.Integer(), nullable=True))
    bind.execute(stage.update().values(pipeline_id=sa.select(pipeline.c.id).where(pipeline.c.team_id == stage.c.team_id).scalar_subquery()))
    sqlite = bind.dialect.name == "sqlite"
    with op.batch_alter_table('stage', schema=None, naming_convention=NAMING, recreate="always" if sqlite else "auto") as batch_op:
        batch_op.alter_column('pipeline_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key('fk_stage_pipeline_id_pipeline', 'pipeline', ['pipeline_id'], ['id'])
        batch_op.drop_constraint('uq_stage_team_id' if sqlite else 'stage_team_id_name_key', type_='unique')
        batch_op.create_unique_constraint('stage_team_id_pipeline_id_name_key', ['team_id', 'pipeline_id', 'name'])
        batch_op.drop_index('ix_stage_position')
        batch_op.create_index('ix_stage_position', ['team_id', 'pipeline_id', 'active', 'position'], unique=False)

    with op.batch_alter_table('sales_team', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pipeline_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_sales_team_pipeline_id_pipeline', 'pipeline', ['pipeline_id'], ['id'])
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        for column in ('won_channel', 'won_channel_id', 'lost_channel', 'lost_channel_id'):
            batch_op.drop_column(column)


def downgrade() -> None:
    raise NotImplementedError("0012 goes forward only: restore the copy `oppbot db backup` made before the upgrade")
