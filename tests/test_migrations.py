"""Migrations go forward only: a database at any earlier revision upgrades to head, on SQLite and (when
TEST_DATABASE_URL is set) PostgreSQL, and ends with the schema the models describe."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from storage.db import alembic_config
from tests.support import migrating

SCRIPT = ScriptDirectory.from_config(alembic_config("sqlite://"))
HEAD = SCRIPT.get_current_head()
EARLIER = sorted(revision.revision for revision in SCRIPT.walk_revisions() if revision.revision != HEAD)


def test_the_revisions_form_one_line():
    assert len(SCRIPT.get_heads()) == 1
    assert EARLIER and EARLIER[0] == "0001"


@pytest.mark.parametrize("revision", EARLIER)
def test_a_database_at_an_earlier_revision_upgrades_to_head(empty_database, revision):
    with migrating(*empty_database) as (connection, config):
        command.upgrade(config, revision)
        assert MigrationContext.configure(connection).get_current_heads() == (revision,)
        command.upgrade(config, "head")
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        assert context.get_current_heads() == (HEAD,)
        differences = [d for d in compare_metadata(context, SQLModel.metadata) if d[0] != "remove_table" or d[1].name != "alembic_version"]
        assert differences == [], f"upgraded from {revision}, the schema differs from the models"
