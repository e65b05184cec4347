"""Stage visits: the derived columns of `stage_change` and how they are kept.

A stage visit starts with a change that leaves a deal open in a stage and ends at the deal's next
change. Per change (ordered by changed_at, then id):
- `left_at`: when the deal's next change happened (NULL on its latest change, which is how a
  deal's final outcome is found);
- `first_visit`: the deal's first visit to this stage; `first_visit_of_owner`: its first visit to
  this stage with this owner (`owner_id`, the owner at the time). Counting these counts distinct
  deals without COUNT(DISTINCT);
- `advanced`: on a visit, whether the deal afterwards reached a stage ranked higher or was won.
  A deal's first visit to a stage has advanced exactly when any of its visits there has (what
  follows the first visit includes what follows every later one); likewise per owner;
- `furthest_visit`: the one visit per deal that tells how far down the funnel it ever got. On a
  deal never won: its first visit to the highest-ranked active stage it ever visited (so not
  advanced: nothing ranked higher followed). On a deal ever won: its first visit to the
  highest-ranked active stage it visited before its last win (so advanced: a win followed), or,
  when none of those stages is active any more, its first change (a visit to a retired stage).
  A deal never won with no visit to an active stage has none. The funnel then reads a deal's
  furthest rank, and whether it was ever won (advanced, or a retired stage), from this one row.
  (The first visit of the highest active stage alone would not do: a deal won, reopened and moved
  beyond where it was won has that visit not advanced although it was won.)
Except `left_at`, each is computed per deal and pipeline (the changed-to stage's): a deal moved to another
pipeline is, for that pipeline's figures, a deal whose history there starts with the move.
All depend on the deal's whole history and `advanced` also on the stage model's order, so they are
computed here, by one statement, whenever either changes: for one deal after each of its stage
changes, for a workspace when its stage order changes, and for everything when the columns are
added or rows are loaded in bulk. Analytics then read visits with plain GROUP BYs instead of
window passes over every stage change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, and_, case, false, func, literal_column, or_, select, true, update

from bot.domain.values import OPEN, WON
from storage.models import Stage, StageChange
from storage.types import UTCDateTime

WON_RANK = 1_000_000_000  # a win ranks above every open stage

COLUMNS = ("left_at", "advanced", "first_visit", "first_visit_of_owner", "furthest_visit")  # the derived columns

_CHANGE = StageChange.__table__
_STAGE = Stage.__table__


def rank_of(stage: Any) -> Any:
    """A stage's place in the funnel: its position when active, NULL when retired (no rank: moves
    into or out of a retired stage are neither advances nor moves back)."""
    return case((stage.active == true(), stage.position))


def derive(executor: Any, team_id: str | None = None, opportunity_id: int | None = None, *,
           columns: tuple[str, ...] = COLUMNS, by_pipeline: bool = True) -> int:
    """Bring the derived columns up to date for one deal, one workspace (team_id) or, with neither,
    every workspace. `executor` is a Session or a Connection. `columns`: the ones to write (a
    migration writes those the schema has at its revision; one before pipelines, 0012, says
    `by_pipeline=False`: a workspace then had one). Returns the rows changed."""
    if opportunity_id is not None and team_id is None:
        raise ValueError("a deal is named with its workspace")
    if not columns or not set(columns) <= set(COLUMNS):
        raise ValueError(f"derived columns are some of {COLUMNS}")
    change = _CHANGE.c
    order = (change.changed_at, change.id)
    # a deal moved to another pipeline starts afresh there: its visits are ranked, first and furthest
    # within each pipeline (the stage's), never against another pipeline's stages
    pipeline = _STAGE.c.pipeline_id if by_pipeline else literal_column("0", Integer)
    deal = (change.opportunity_id, pipeline)
    is_visit = change.to_status == OPEN
    is_win = change.to_status == WON
    rank = rank_of(_STAGE.c)
    reached = case((is_visit, rank), (is_win, WON_RANK))
    best_later = func.max(reached).over(partition_by=deal, order_by=order, rows=(1, None))
    won_later = func.max(case((is_win, 1))).over(partition_by=deal, order_by=order, rows=(1, None))
    ever_won = func.max(case((is_win, 1))).over(partition_by=deal)

    def first(*partition: Any) -> Any:
        nth = func.row_number().over(partition_by=(*deal, change.to_stage_id, change.to_status, *partition), order_by=order)
        return case((and_(is_visit, nth == 1), true()), else_=false())

    where = []
    if team_id is not None:
        where.append(change.team_id == team_id)
    if opportunity_id is not None:
        where.append(change.opportunity_id == opportunity_id)
    per_change = (
        select(
            change.id,
            change.opportunity_id,
            pipeline.label("pipeline_id"),
            # a visit ends with the deal's next change, whichever pipeline that leads into
            func.lead(change.changed_at, type_=UTCDateTime).over(partition_by=change.opportunity_id, order_by=order).label("left_at"),
            case((and_(is_visit, best_later > rank), true()), else_=false()).label("advanced"),
            first().label("first_visit"),
            first(change.owner_id).label("first_visit_of_owner"),
            # the rank a visit counts with for furthest_visit: on a deal ever won, only visits a win followed
            case((and_(is_visit, or_(ever_won.is_(None), won_later == 1)), rank)).label("counted_rank"),
            rank.label("rank"),
            ever_won.label("ever_won"),
            (func.row_number().over(partition_by=deal, order_by=order) == 1).label("first_change"),
        )
        .select_from(_CHANGE.join(_STAGE, and_(_STAGE.c.id == change.to_stage_id, _STAGE.c.team_id == change.team_id)))
        .where(*where)
        .subquery("per_change")
    )
    c = per_change.c
    furthest_rank = func.max(c.counted_rank).over(partition_by=(c.opportunity_id, c.pipeline_id))
    furthest = or_(and_(c.first_visit, c.rank == furthest_rank),
                   and_(c.ever_won == 1, furthest_rank.is_(None), c.first_change))
    derived = (
        select(c.id, c.left_at, c.advanced, c.first_visit, c.first_visit_of_owner,
               case((furthest, true()), else_=false()).label("furthest_visit"))
        .subquery("derived")
    )
    statement = (
        update(_CHANGE)
        .values(**{name: derived.c[name] for name in columns})
        .where(change.id == derived.c.id,
               or_(*(change[name].is_distinct_from(derived.c[name]) if name == "left_at" else change[name] != derived.c[name]
                     for name in columns)))
    )
    return executor.execute(statement).rowcount
