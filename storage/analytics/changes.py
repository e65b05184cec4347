"""What changed: deals created, advanced, moved back, won, lost or reopened in a window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    and_,
    case,
    func,
    select,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session

from bot.domain.values import LOST, OPEN, WON
from storage.analytics._sql import (
    _deal_of_change,
    _Scopes,
)
from storage.analytics.values import (
    ChangedDeal,
    ChangeList,
    Changes,
    Scope,
)
from storage.models import Opportunity, Stage, StageChange
from storage.visits import rank_of

CHANGE_KINDS = ("new", "advanced", "moved_back", "won", "lost", "reopened")


class ChangeFigures:
    """Stage changes of a window, by kind."""

    session: Session

    # ----- 2. what changed -----------------------------------------------------------------------

    def changes_between(self, scope: Scope, since: datetime, until: datetime, *, limit: int | None = None) -> Changes:
        """Deals that were created, advanced, moved back, won, lost or reopened in [since, until).

        A deal appears at most once per category, with its latest change of that kind in the window
        (so a deal won and later lost in the window is in both lists). Newest first; `limit` cuts
        each list, `total` still counts all. A lost deal's reason is the one its change to Lost
        recorded (so a deal reopened or lost again since keeps the reason of that close).
        """
        return self.changes_between_each([scope], since, until, limit=limit)[0]

    def changes_between_each(self, scopes: Sequence[Scope], since: datetime, until: datetime, *,
                             limit: int | None = None) -> list[Changes]:
        group = _Scopes(self.session, scopes)
        members = group.members()
        from_stage, to_stage = aliased(Stage), aliased(Stage)
        kind = case(
            (StageChange.from_status.is_(None), "new"),
            (StageChange.to_status == WON, "won"),
            (StageChange.to_status == LOST, "lost"),
            (StageChange.from_status != OPEN, "reopened"),
            (rank_of(to_stage) > rank_of(from_stage), "advanced"),
            (rank_of(to_stage) < rank_of(from_stage), "moved_back"),
        )
        newest_first = (StageChange.changed_at.desc(), StageChange.id.desc())
        classified = (
            select(
                members.c.grp,
                StageChange.id.label("change_id"),
                StageChange.opportunity_id,
                StageChange.from_stage_id,
                StageChange.to_stage_id,
                StageChange.changed_at,
                StageChange.lost_reason,
                kind.label("kind"),
                func.row_number().over(partition_by=(members.c.grp, StageChange.opportunity_id, kind), order_by=newest_first).label("nth"),
            )
            .select_from(StageChange)
            .join(Opportunity, _deal_of_change())
            .join(members, group.on(members, Opportunity.owner_id))
            .join(to_stage, and_(to_stage.id == StageChange.to_stage_id, to_stage.team_id == StageChange.team_id))
            .outerjoin(from_stage, and_(from_stage.id == StageChange.from_stage_id, from_stage.team_id == StageChange.team_id))
            .where(StageChange.team_id == group.team_id, StageChange.changed_at >= since, StageChange.changed_at < until,
                   *group.deal_filters())
            .cte("classified")
        )
        latest = (
            select(
                classified,
                func.row_number().over(partition_by=(classified.c.grp, classified.c.kind),
                                       order_by=(classified.c.changed_at.desc(), classified.c.change_id.desc())).label("place"),
                func.count().over(partition_by=(classified.c.grp, classified.c.kind)).label("total"),
            )
            .where(classified.c.nth == 1, classified.c.kind.is_not(None))
            .cte("latest")
        )
        query = (
            select(
                latest.c.grp, latest.c.kind, latest.c.total, latest.c.opportunity_id, latest.c.from_stage_id, latest.c.to_stage_id,
                latest.c.changed_at, Opportunity.number, Opportunity.name, Opportunity.owner_id, Opportunity.amount,
                Opportunity.currency, latest.c.lost_reason,
            )
            .join(Opportunity, and_(Opportunity.id == latest.c.opportunity_id, Opportunity.team_id == group.team_id))
            .order_by(latest.c.grp, latest.c.kind, latest.c.place)
        )
        if limit is not None:
            query = query.where(latest.c.place <= limit)
        totals: list[dict[str, int]] = [{} for _ in scopes]
        deals: list[dict[str, list[ChangedDeal]]] = [{k: [] for k in CHANGE_KINDS} for _ in scopes]
        for r in group.execute(query):
            totals[r.grp][r.kind] = r.total
            deals[r.grp][r.kind].append(ChangedDeal(
                opportunity_id=r.opportunity_id, number=r.number, name=r.name, owner_id=r.owner_id, amount=r.amount,
                currency=r.currency, from_stage_id=r.from_stage_id, to_stage_id=r.to_stage_id, changed_at=r.changed_at,
                lost_reason=r.lost_reason if r.kind == "lost" else None,
            ))
        return [Changes(**{k: ChangeList(total=totals[grp].get(k, 0), deals=tuple(deals[grp][k])) for k in CHANGE_KINDS})
                for grp in range(len(group))]
