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
  follows the first visit includes what follows every later one); likewise per owner.
All depend on the deal's whole history and `advanced` also on the stage model's order, so they are
computed here, by one statement, whenever either changes: for one deal after each of its stage
changes, for a workspace when its stage order changes, and for everything when the columns are
added or rows are loaded in bulk. Analytics then read visits with plain GROUP BYs instead of
window passes over every stage change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, false, func, or_, select, true, update

from bot.domain.values import OPEN, WON
from storage.models import Stage, StageChange
from storage.types import UTCDateTime

WON_RANK = 1_000_000_000  # a win ranks above every open stage

_CHANGE = StageChange.__table__
_STAGE = Stage.__table__


def rank_of(stage: Any) -> Any:
    """A stage's place in the funnel: its position when active, NULL when retired (no rank: moves
    into or out of a retired stage are neither advances nor moves back)."""
    return case((stage.active == true(), stage.position))


def derive(executor: Any, team_id: str | None = None, opportunity_id: int | None = None) -> int:
    """Bring the derived columns up to date for one deal, one workspace (team_id) or, with neither,
    every workspace. `executor` is a Session or a Connection. Returns the rows changed."""
    if opportunity_id is not None and team_id is None:
        raise ValueError("a deal is named with its workspace")
    change = _CHANGE.c
    order = (change.changed_at, change.id)
    is_visit = change.to_status == OPEN
    reached = case((is_visit, rank_of(_STAGE.c)), (change.to_status == WON, WON_RANK))
    best_later = func.max(reached).over(partition_by=change.opportunity_id, order_by=order, rows=(1, None))

    def first(*partition: Any) -> Any:
        nth = func.row_number().over(partition_by=(change.opportunity_id, change.to_stage_id, change.to_status, *partition), order_by=order)
        return case((and_(is_visit, nth == 1), true()), else_=false())

    where = []
    if team_id is not None:
        where.append(change.team_id == team_id)
    if opportunity_id is not None:
        where.append(change.opportunity_id == opportunity_id)
    derived = (
        select(
            change.id,
            func.lead(change.changed_at, type_=UTCDateTime).over(partition_by=change.opportunity_id, order_by=order).label("left_at"),
            case((and_(is_visit, best_later > rank_of(_STAGE.c)), true()), else_=false()).label("advanced"),
            first().label("first_visit"),
            first(change.owner_id).label("first_visit_of_owner"),
        )
        .select_from(_CHANGE.join(_STAGE, and_(_STAGE.c.id == change.to_stage_id, _STAGE.c.team_id == change.team_id)))
        .where(*where)
        .subquery("derived")
    )
    columns = ("advanced", "first_visit", "first_visit_of_owner")
    statement = (
        update(_CHANGE)
        .values(left_at=derived.c.left_at, **{name: derived.c[name] for name in columns})
        .where(change.id == derived.c.id,
               or_(change.left_at.is_distinct_from(derived.c.left_at), *(change[name] != derived.c[name] for name in columns)))
    )
    return executor.execute(statement).rowcount
