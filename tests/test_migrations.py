"""Migrations go forward only: a database at any earlier revision upgrades to head, on SQLite and (when
TEST_DATABASE_URL is set) PostgreSQL, and ends with the schema the models describe."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from storage import visits
from storage.db import alembic_config
from storage.types import UTCDateTime
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


# ----- 0012 (pipelines) with data --------------------------------------------------------------------------------------------
# A database at 0011 with two workspaces, written with plain inserts in the schema of 0011 (no `pipeline` table, workspace
# won/lost channels, stages unique on (team_id, name)); upgraded to head, every row is as it was, the stages of each
# workspace are one pipeline, and the derived visit columns (now per deal and pipeline) keep their values.

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
DATETIMES = {"created_at", "updated_at", "stage_entered_at", "closed_at", "changed_at", "due_at", "done_at", "scheduled_for",
             "sent_at", "claimed_until", "in_doubt_since", "taken_at", "released_at", "fetched_at", "away_until", "left_at"}
JSONS = {"admins", "industries", "regions", "company_sizes", "assignment", "exchange_rates", "payload"}
BOOLEANS = {"active", "is_slack_admin", "is_bot", "is_deleted", "auto_assign", "needs_owner"}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def insert(connection: Connection, name: str, *rows: dict[str, Any]) -> None:
    """Plain INSERTs into a table as it is at the revision the database is at (no model involved)."""
    def kind(column: str) -> Any:
        if column in DATETIMES:
            return UTCDateTime(timezone=True)
        if column in JSONS:
            return sa.JSON()
        if column in BOOLEANS:
            return sa.Boolean()
        if column == "close_date":
            return sa.Date()
        if column == "amount":
            return sa.Numeric(15, 2)
        return None

    for row in rows:
        connection.execute(sa.table(name, *(sa.column(column, kind(column)) for column in row)).insert().values(**row))


def everything(connection: Connection, table: str) -> list[dict[str, Any]]:
    key = "team_id, user_id" if table == "member" else ("team_id" if table == "workspace" else "id")
    return [dict(row) for row in connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY {key}")).mappings()]


UNCHANGED = ("member", "sales_team_member", "opportunity", "stage_change", "follow_up", "delivery", "collaborator", "owner_change",
             "posted_card")
DROPPED = {"won_channel", "won_channel_id", "lost_channel", "lost_channel_id"}  # from workspace, into its pipeline


def workspace_row(team_id: str, language: str, **channels: Any) -> dict[str, Any]:
    return dict(team_id=team_id, currency="USD", timezone="UTC", admins=["U0ADMIN"], industries=[], regions=[], company_sizes=[],
                last_opp_number=4, config_digest=None, created_at=day(0), assignment={}, exchange_rates={}, language=language,
                won_channel=None, won_channel_id=None, lost_channel=None, lost_channel_id=None) | channels


def stage_row(id_: int, team_id: str, position: int, name: str, active: bool = True) -> dict[str, Any]:
    return dict(id=id_, team_id=team_id, position=position, name=name, probability=10 * (position + 1), max_days=14, alert_channel=None,
                alert_usergroup=None, alert_channel_id=None, active=active)


def deal_row(id_: int, team_id: str, number: int, stage_id: int, status: str, owner: str, created: float, entered: float,
             closed: float | None = None, lost_reason: str | None = None) -> dict[str, Any]:
    return dict(id=id_, team_id=team_id, number=number, name=f"Deal {number}", customer="Cust", amount=Decimal("1000.50"), currency="USD",
                close_date=date(2026, 12, 1), stage_id=stage_id, status=status, lost_reason=lost_reason, owner_id=owner, created_by=owner,
                created_at=day(created), updated_at=day(entered), stage_entered_at=day(entered),
                closed_at=day(closed) if closed is not None else None, needs_owner=False)


def change_row(id_: int, team_id: str, opportunity_id: int, from_: tuple[int | None, str | None], to: tuple[int, str], owner: str,
               at: float, lost_reason: str | None = None) -> dict[str, Any]:
    return dict(id=id_, team_id=team_id, opportunity_id=opportunity_id, from_stage_id=from_[0], from_status=from_[1], to_stage_id=to[0],
                to_status=to[1], changed_by=owner, owner_id=owner, changed_at=day(at), lost_reason=lost_reason)


def seed_0011(connection: Connection) -> None:
    insert(connection, "workspace",
           workspace_row("T0EN", "en", won_channel="#wins", won_channel_id="C0WINS", lost_channel="#lost", lost_channel_id="C0LOST"),
           workspace_row("T0ZH", "zh-CN", won_channel="#赢单", won_channel_id=None))  # a channel not resolved yet
    insert(connection, "member", *(dict(team_id=team, user_id=user, name=user.lower(), tz="UTC", is_slack_admin=False, is_bot=False,
                                        is_deleted=False, fetched_at=day(0), away_until=None, locale=None)
                                   for team, user in (("T0EN", "U0A"), ("T0EN", "U0B"), ("T0ZH", "U0C"))))
    # 4 stages in English (the last retired, parked at position 103), 3 in Chinese; "Prospect" is in both workspaces
    insert(connection, "stage", stage_row(1, "T0EN", 0, "Prospect"), stage_row(2, "T0EN", 1, "Qualified"),
           stage_row(3, "T0EN", 2, "Proposal"), stage_row(4, "T0EN", 103, "Old stage", active=False),
           stage_row(5, "T0ZH", 0, "Prospect"), stage_row(6, "T0ZH", 1, "方案"), stage_row(7, "T0ZH", 2, "谈判"))
    insert(connection, "sales_team",
           dict(id=1, team_id="T0EN", name="East", manager_id="U0MGR", channel="#east", digest_cron="0 9 * * 1", timezone="UTC",
                auto_assign=True, routing_channel="#leads"),
           dict(id=2, team_id="T0ZH", name="华东", manager_id="U0MGRZ", channel=None, digest_cron="0 9 * * 1", timezone=None,
                auto_assign=False, routing_channel=None))
    insert(connection, "sales_team_member", dict(id=1, team_id="T0EN", sales_team_id=1, user_id="U0A"),
           dict(id=2, team_id="T0EN", sales_team_id=1, user_id="U0B"), dict(id=3, team_id="T0ZH", sales_team_id=2, user_id="U0C"))
    o, w, lost = "open", "won", "lost"
    insert(connection, "opportunity",
           deal_row(1, "T0EN", 1, 1, o, "U0B", created=0, entered=6),           # P -> Q -> P (moved back); owner A, then B
           deal_row(2, "T0EN", 2, 2, w, "U0A", created=1, entered=4, closed=4),  # P -> Q -> won
           deal_row(3, "T0EN", 3, 3, o, "U0A", created=1, entered=9),           # P -> Q -> won -> reopened in Q -> Proposal
           deal_row(4, "T0EN", 4, 4, lost, "U0B", created=2, entered=3, closed=5, lost_reason="Budget"),  # in the retired stage, lost
           deal_row(5, "T0ZH", 1, 6, o, "U0C", created=0, entered=2),           # Prospect -> 方案
           deal_row(6, "T0ZH", 2, 7, lost, "U0C", created=0, entered=3, closed=4, lost_reason="价格"))  # Prospect -> 谈判 (skips) -> lost
    insert(connection, "stage_change",
           change_row(1, "T0EN", 1, (None, None), (1, o), "U0A", 0), change_row(2, "T0EN", 1, (1, o), (2, o), "U0A", 2),
           change_row(3, "T0EN", 1, (2, o), (1, o), "U0B", 6),
           change_row(4, "T0EN", 2, (None, None), (1, o), "U0A", 1), change_row(5, "T0EN", 2, (1, o), (2, o), "U0A", 2),
           change_row(6, "T0EN", 2, (2, o), (2, w), "U0A", 4),
           change_row(7, "T0EN", 3, (None, None), (1, o), "U0A", 1), change_row(8, "T0EN", 3, (1, o), (2, o), "U0A", 3),
           change_row(9, "T0EN", 3, (2, o), (2, w), "U0A", 5), change_row(10, "T0EN", 3, (2, w), (2, o), "U0A", 7),
           change_row(11, "T0EN", 3, (2, o), (3, o), "U0A", 9),
           change_row(12, "T0EN", 4, (None, None), (1, o), "U0B", 2), change_row(13, "T0EN", 4, (1, o), (4, o), "U0B", 3),
           change_row(14, "T0EN", 4, (4, o), (4, lost), "U0B", 5, "Budget"),
           change_row(15, "T0ZH", 5, (None, None), (5, o), "U0C", 0), change_row(16, "T0ZH", 5, (5, o), (6, o), "U0C", 2),
           change_row(17, "T0ZH", 6, (None, None), (5, o), "U0C", 0), change_row(18, "T0ZH", 6, (5, o), (7, o), "U0C", 3),
           change_row(19, "T0ZH", 6, (7, o), (7, lost), "U0C", 4, "价格"))
    insert(connection, "owner_change", dict(id=1, team_id="T0EN", opportunity_id=1, from_owner="U0A", to_owner="U0B", changed_by="U0MGR",
                                            how="manual", changed_at=day(5)))
    insert(connection, "follow_up",
           dict(id=1, team_id="T0EN", opportunity_id=1, text="Call back", due_at=day(8), assignee_id="U0B", status="open",
                created_by="U0B", created_at=day(6), done_at=None, done_by=None),
           dict(id=2, team_id="T0ZH", opportunity_id=5, text="发报价", due_at=day(3), assignee_id="U0C", status="done",
                created_by="U0C", created_at=day(2), done_at=day(3), done_by="U0C"))
    insert(connection, "delivery", dict(id=1, team_id="T0EN", kind="stage_alert", subject_id=11, dedupe_key="stage-alert:11",
                                        payload={"opportunity_id": 3, "stage_id": 3}, status="sent", due_at=day(9), scheduled_for=day(9),
                                        attempts=1, last_error=None, claimed_by=None, claimed_until=None, sent_at=day(9), channel_id="C0PROP",
                                        message_ts="1.000100", created_at=day(9), in_doubt_since=None))
    insert(connection, "collaborator", dict(id=1, team_id="T0EN", opportunity_id=3, stage_id=3, stage_change_id=11, user_id="U0B",
                                            taken_at=day(9), released_at=None))
    insert(connection, "posted_card", dict(id=1, team_id="T0EN", opportunity_id=3, channel_id="C0PROP", ts="1.000100", posted_at=day(9)))
    # the derived visit columns as the app kept them at 0011: one pipeline per workspace
    assert visits.derive(connection, by_pipeline=False) > 0


def test_0012_moves_each_workspace_into_one_pipeline_and_changes_no_deal(empty_database):
    with migrating(*empty_database) as (connection, config):
        command.upgrade(config, "0011")
        seed_0011(connection)
        before = {table: everything(connection, table) for table in (*UNCHANGED, "stage", "sales_team", "workspace")}
        # the rows are really there and the derived columns are not all at their defaults (else "unchanged" proves little):
        # 19 changes; deal 1's first visit to Prospect (change 1) advanced (to Qualified), its second (change 3) did not
        assert len(before["stage_change"]) == 19
        derived = {row["id"]: row for row in before["stage_change"]}
        assert (bool(derived[1]["advanced"]), bool(derived[1]["first_visit"]), bool(derived[3]["first_visit"])) == (True, True, False)
        assert derived[3]["left_at"] is None and derived[1]["left_at"] is not None
        # deal 3 was won in Qualified, reopened and moved to Proposal: ever won, its furthest visit is the first visit of the
        # highest stage before its last win, Qualified's (change 8), not Proposal's (change 11)
        assert [row["id"] for row in before["stage_change"] if row["opportunity_id"] == 3 and row["furthest_visit"]] == [8]

        command.upgrade(config, "head")

        pipelines = everything(connection, "pipeline")
        assert [{k: v for k, v in p.items() if k != "id"} for p in pipelines] == [
            dict(team_id="T0EN", position=0, name="Sales", description="", won_channel="#wins", won_channel_id="C0WINS",
                 lost_channel="#lost", lost_channel_id="C0LOST", active=pipelines[0]["active"]),
            dict(team_id="T0ZH", position=0, name="销售", description="", won_channel="#赢单", won_channel_id=None,
                 lost_channel=None, lost_channel_id=None, active=pipelines[1]["active"]),
        ]
        assert all(bool(p["active"]) is True for p in pipelines)
        pipeline_of = {p["team_id"]: p["id"] for p in pipelines}
        stages = everything(connection, "stage")
        # every stage in its workspace's pipeline; nothing else about it changed (names, positions, the retired one)
        assert {s["id"]: s["pipeline_id"] for s in stages} == {1: pipeline_of["T0EN"], 2: pipeline_of["T0EN"], 3: pipeline_of["T0EN"],
                                                               4: pipeline_of["T0EN"], 5: pipeline_of["T0ZH"], 6: pipeline_of["T0ZH"],
                                                               7: pipeline_of["T0ZH"]}
        assert [{k: v for k, v in s.items() if k != "pipeline_id"} for s in stages] == before["stage"]
        teams = everything(connection, "sales_team")
        assert [t["pipeline_id"] for t in teams] == [None, None]  # a team's pipeline: the workspace's first
        assert [{k: v for k, v in t.items() if k != "pipeline_id"} for t in teams] == before["sales_team"]
        assert everything(connection, "workspace") == [{k: v for k, v in w.items() if k not in DROPPED} for w in before["workspace"]]
        for table in UNCHANGED:  # whole rows, the derived visit columns of stage_change included
            assert everything(connection, table) == before[table], table
        # derived per deal and pipeline now, the columns already have the values: nothing to change
        assert visits.derive(connection) == 0
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []

        # a stage name is unique within a pipeline, no longer within the workspace
        insert(connection, "pipeline", dict(id=100, team_id="T0EN", position=1, name="Renewals", description="", won_channel=None,
                                            won_channel_id=None, lost_channel=None, lost_channel_id=None, active=True))
        insert(connection, "stage", stage_row(100, "T0EN", 0, "Prospect") | {"pipeline_id": 100})
        assert {s["name"] for s in everything(connection, "stage") if s["pipeline_id"] == 100} == {"Prospect"}
        with pytest.raises(IntegrityError), connection.begin_nested():
            insert(connection, "stage", stage_row(101, "T0EN", 1, "Prospect") | {"pipeline_id": 100})
        with pytest.raises(IntegrityError), connection.begin_nested():
            insert(connection, "stage", stage_row(102, "T0EN", 5, "Qualified") | {"pipeline_id": pipeline_of["T0EN"]})


def test_0012_gives_stages_without_a_workspace_row_a_pipeline(empty_database):
    with migrating(*empty_database) as (connection, config):
        command.upgrade(config, "0011")
        insert(connection, "workspace", workspace_row("T0EN", "zh-CN", lost_channel="#lost", lost_channel_id="C0LOST"))
        insert(connection, "stage", stage_row(1, "T0GONE", 0, "Prospect"), stage_row(2, "T0GONE", 1, "Won over"),
               stage_row(3, "T0EN", 0, "Prospect"))
        command.upgrade(config, "head")
        pipelines = {p["team_id"]: p for p in everything(connection, "pipeline")}
        assert set(pipelines) == {"T0EN", "T0GONE"}
        gone = pipelines["T0GONE"]
        # no workspace row: no language (English, the default) and no channels to take over
        assert (gone["name"], gone["position"], bool(gone["active"]), gone["won_channel"], gone["lost_channel"]) == ("Sales", 0, True, None, None)
        assert (pipelines["T0EN"]["name"], pipelines["T0EN"]["lost_channel_id"]) == ("销售", "C0LOST")
        assert {s["id"]: s["pipeline_id"] for s in everything(connection, "stage")} == {1: gone["id"], 2: gone["id"], 3: pipelines["T0EN"]["id"]}
