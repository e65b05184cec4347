"""Pipeline analytics: the figures behind the manager's digest, `/opp funnel` and `/opp report`.

Every figure is one SQL statement (two for `rep_funnels`) whose aggregates — counts, sums,
averages, medians, first/last changes — are computed by the database with GROUP BY, window
functions and CTEs; Python only turns the few result rows (one per stage, rep or group) into
frozen dataclasses of plain values. The number of statements never depends on the data size.

`Figures(session)` (the unit of work's `uow.figures`) has every figure as a method, one mixin per
family: pipeline, changes, outcomes, funnel, stalled, follow_ups, report, assignment. The scope
and result types, and the conventions they follow, are in `values`; `_sql` has the SQL helpers
the families share.
"""

from __future__ import annotations

from sqlmodel import Session

from storage.analytics._sql import LITERAL_ROWS
from storage.analytics.assignment import AssignmentFigures
from storage.analytics.changes import CHANGE_KINDS, ChangeFigures
from storage.analytics.follow_ups import FollowUpFigures
from storage.analytics.funnel import FunnelFigures
from storage.analytics.outcomes import WIN_RATE_WINDOW, OutcomeFigures
from storage.analytics.pipeline import PipelineFigures
from storage.analytics.report import BY_REASON, DIMENSIONS, NONE_LABEL, REPORT_BY, TAG_COLUMNS, ReportFigures
from storage.analytics.stalled import (
    MIN_COMPLETED_VISITS,
    STALLED_MULTIPLIER,
    StalledFigures,
    judge,
    medians_of,
    stalled_since,
)
from storage.analytics.values import (
    STALLED_BY_MAX_DAYS,
    STALLED_BY_NORM,
    ChangedDeal,
    ChangeList,
    Changes,
    CycleLength,
    DealRef,
    ExpectedCloses,
    Funnel,
    LostReason,
    OpenWithoutFollowUp,
    OverdueFollowUps,
    RepFunnel,
    RepFunnels,
    RepLoad,
    ReportRow,
    RepRecord,
    RepStage,
    Scope,
    Similar,
    StageDwell,
    StageFigures,
    StagePipeline,
    StageStep,
    Stalled,
    StalledDeal,
    WinRate,
)

__all__ = [
    "WIN_RATE_WINDOW",
    "BY_REASON",
    "CHANGE_KINDS",
    "DIMENSIONS",
    "LITERAL_ROWS",
    "MIN_COMPLETED_VISITS",
    "STALLED_BY_MAX_DAYS",
    "STALLED_BY_NORM",
    "STALLED_MULTIPLIER",
    "NONE_LABEL",
    "REPORT_BY",
    "TAG_COLUMNS",
    "AssignmentFigures",
    "ChangeFigures",
    "ChangeList",
    "ChangedDeal",
    "Changes",
    "CycleLength",
    "DealRef",
    "ExpectedCloses",
    "Figures",
    "FollowUpFigures",
    "Funnel",
    "FunnelFigures",
    "LostReason",
    "OpenWithoutFollowUp",
    "OutcomeFigures",
    "OverdueFollowUps",
    "PipelineFigures",
    "RepFunnel",
    "RepFunnels",
    "RepLoad",
    "RepRecord",
    "RepStage",
    "ReportFigures",
    "ReportRow",
    "Scope",
    "Similar",
    "StageDwell",
    "StageFigures",
    "StagePipeline",
    "StageStep",
    "Stalled",
    "StalledDeal",
    "StalledFigures",
    "WinRate",
    "judge",
    "medians_of",
    "stalled_since",
]


class Figures(PipelineFigures, ChangeFigures, OutcomeFigures, FunnelFigures, StalledFigures, FollowUpFigures,
              ReportFigures, AssignmentFigures):
    """Every figure, computed in one session (one transaction).

    Each figure with a `…_each(scopes, …)` form computes it in one statement for any number of
    scopes of one workspace, returning one result per scope in order; the one-scope form is it
    with a list of one.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
