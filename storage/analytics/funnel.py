"""The funnel, from stage visits: stage conversion, time in stage, and each rep's funnel next to the team's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    null,
    select,
    union_all,
)
from sqlmodel import Session

from storage.analytics._sql import (
    _active_stages,
    _days_stats,
    _entered_and_advanced,
    _float,
    _per_team_and_stage,
    _ratio,
    _Scopes,
    _stages,
    _visits,
)
from storage.analytics.values import (
    RepFunnel,
    RepFunnels,
    RepStage,
    Scope,
    StageDwell,
    StageFigures,
    StageStep,
)


def _funnel_figures(visits: Any, *keys: Any, per_owner: bool) -> list[Any]:
    """Aggregates of visits grouped by `keys` (and stage): deals entered and advanced, visit counts
    and average days. Per owner, a deal counts once per owner by its owner's first visit (which has
    advanced when any of that owner's visits there has); across owners, distinct deals are counted."""
    finished_days = case((visits.c.finished, visits.c.days))
    if per_owner:
        entered = func.count(case((visits.c.first_visit_of_owner, 1)))
        advanced = func.count(case((and_(visits.c.first_visit_of_owner, visits.c.advanced), 1)))
    else:
        entered = func.count(distinct(visits.c.opportunity_id))
        advanced = func.count(distinct(case((visits.c.advanced, visits.c.opportunity_id))))
    return [
        *keys,
        visits.c.stage_id,
        entered.label("entered"),
        advanced.label("advanced"),
        func.count().label("visits"),
        func.avg(visits.c.days).label("avg_days"),
        func.count(finished_days).label("finished_visits"),
        func.avg(finished_days).label("finished_avg_days"),
    ]


class FunnelFigures:
    """Stage conversion, stage dwell and rep funnels."""

    session: Session

    # ----- 4. stage conversion -------------------------------------------------------------------

    def stage_conversion(self, scope: Scope, since: datetime | None = None) -> list[StageStep]:
        """Stage-to-stage conversion along the active stages, the last one converting to Won.

        entered: distinct deals that ever entered the stage (created in it, moved or reopened into
        it); advanced: of those, the ones that afterwards entered a later stage or were won. With
        `since`, only deals created at or after it count.
        """
        return self.stage_conversion_each([scope], since)[0]

    def stage_conversion_each(self, scopes: Sequence[Scope], since: datetime | None = None) -> list[list[StageStep]]:
        group = _Scopes(self.session, scopes)
        visits = _visits(self.session, group, None, created_since=since)
        figures = {(r.grp, r.stage_id): r for r in group.execute(
            select(visits.c.grp, visits.c.stage_id, *_entered_and_advanced(visits))
            .group_by(visits.c.grp, visits.c.stage_id)
        )}
        return _conversion_steps(group, figures, _active_stages(self.session, group.team_id))

    # ----- 5. time in stage ----------------------------------------------------------------------

    def stage_dwell(self, scope: Scope, now: datetime) -> list[StageDwell]:
        """Days per stage visit, per stage: count, average and median of all visits (the ones still
        going count until `now`) and of finished visits only.

        Active stages in position order, then retired stages that have visits.
        """
        return self.stage_dwell_each([scope], now)[0]

    def stage_dwell_each(self, scopes: Sequence[Scope], now: datetime) -> list[list[StageDwell]]:
        return [list(figures.dwell) for figures in self.stage_figures_each(scopes, now)]

    def stage_figures(self, scope: Scope, now: datetime) -> StageFigures:
        """`stage_dwell` and `stage_conversion` (of every deal: no `since`) of one scope, from one pass
        over its stage visits."""
        return self.stage_figures_each([scope], now)[0]

    def stage_figures_each(self, scopes: Sequence[Scope], now: datetime) -> list[StageFigures]:
        group = _Scopes(self.session, scopes)
        stats = _days_stats(self.session, _visits(self.session, group, now))
        figures = {(r.grp, r.stage_id): r for r in group.execute(select(stats))}

        def line(stage: Any, r: Any) -> StageDwell:
            return StageDwell(
                stage_id=stage.id, visits=r.visits if r else 0, avg_days=_float(r.avg_days) if r else None,
                median_days=_float(r.median_days) if r else None, finished_visits=r.finished_visits if r else 0,
                finished_avg_days=_float(r.finished_avg_days) if r else None,
                finished_median_days=_float(r.finished_median_days) if r else None,
            )

        stages = _stages(self.session, group.team_id)
        dwell = _per_team_and_stage(self.session, group, figures, line, stages)
        conversion = _conversion_steps(group, figures, [stage.id for stage in stages if stage.active])
        return [StageFigures(dwell=tuple(d), conversion=tuple(c)) for d, c in zip(dwell, conversion)]

    # ----- 8. reps side by side ------------------------------------------------------------------

    def rep_funnels(self, scope: Scope, now: datetime) -> RepFunnels:
        """Each rep's funnel next to the team's.

        A stage visit belongs to the rep who owned the deal when the visit started
        (`stage_change.owner_id`), and `scope.owner_ids` selects visits by that owner. Per active
        stage: deals entered, advanced (later entered a later stage or won), conversion rate, visits
        and average days (ongoing visits until `now`), finished visits and their average days.

        The team line counts each deal once. A rep's stall pointer is the stage where the rep's average
        finished visit is longest compared with the team's, when that ratio is above 1.
        Reps: `scope.owner_ids` in the order given, else everyone with visits, by id.
        """
        return self.rep_funnels_each([scope], now)[0]

    def rep_funnels_each(self, scopes: Sequence[Scope], now: datetime) -> list[RepFunnels]:
        group = _Scopes(self.session, scopes)
        stage_ids = _active_stages(self.session, group.team_id)
        visits = _visits(self.session, group, now, attribute_to_change_owner=True)
        per_rep = (select(*_funnel_figures(visits, visits.c.grp, visits.c.owner_id, per_owner=True))
                   .group_by(visits.c.grp, visits.c.owner_id, visits.c.stage_id))
        team = (select(*_funnel_figures(visits, visits.c.grp, cast(null(), String).label("owner_id"), per_owner=False))
                .group_by(visits.c.grp, visits.c.stage_id))
        figures: list[dict[str | None, dict[int, Any]]] = [{} for _ in scopes]
        for r in group.execute(union_all(per_rep, team)):
            figures[r.grp].setdefault(r.owner_id, {})[r.stage_id] = r
        return [_rep_funnels(stage_ids, scope, mine) for scope, mine in zip(scopes, figures)]


def _conversion_steps(group: _Scopes, figures: dict[tuple[int, int], Any], stage_ids: list[int]) -> list[list[StageStep]]:
    """Each scope's steps along the active stages from (grp, stage_id) rows with entered and advanced."""
    result = []
    for grp in range(len(group)):
        steps = []
        for i, stage_id in enumerate(stage_ids):
            r = figures.get((grp, stage_id))
            entered, advanced = (r.entered, r.advanced) if r else (0, 0)
            steps.append(StageStep(stage_id=stage_id, next_stage_id=stage_ids[i + 1] if i + 1 < len(stage_ids) else None,
                                   entered=entered, advanced=advanced, rate=_ratio(advanced, entered)))
        result.append(steps)
    return result


def _rep_funnels(stage_ids: list[int], scope: Scope, figures: dict[str | None, dict[int, Any]]) -> RepFunnels:
    def funnel(owner_id: str | None) -> RepFunnel:
        mine = figures.get(owner_id, {})
        stages = []
        for i, stage_id in enumerate(stage_ids):
            r = mine.get(stage_id)
            entered, advanced = (r.entered, r.advanced) if r else (0, 0)
            stages.append(RepStage(
                stage_id=stage_id, next_stage_id=stage_ids[i + 1] if i + 1 < len(stage_ids) else None,
                entered=entered, advanced=advanced, rate=_ratio(advanced, entered),
                visits=r.visits if r else 0, avg_days=_float(r.avg_days) if r else None,
                finished_visits=r.finished_visits if r else 0,
                finished_avg_days=_float(r.finished_avg_days) if r else None,
            ))
        return RepFunnel(owner_id=owner_id, stages=tuple(stages))

    team_funnel = funnel(None)
    team_days = {s.stage_id: s.finished_avg_days for s in team_funnel.stages}
    owners = scope.owner_ids if scope.owner_ids is not None else tuple(sorted(k for k in figures if k is not None))
    reps = []
    for owner_id in owners:
        rep = funnel(owner_id)
        ratios = [(s.finished_avg_days / team_days_in_stage, s.stage_id) for s in rep.stages
                  if s.finished_avg_days is not None and (team_days_in_stage := team_days[s.stage_id])]
        worst = max(ratios, key=lambda pair: pair[0], default=None)
        if worst is not None and worst[0] > 1:
            rep = RepFunnel(owner_id=owner_id, stages=rep.stages, stall_stage_id=worst[1], stall_ratio=worst[0])
        reps.append(rep)
    return RepFunnels(team=team_funnel, reps=tuple(reps))
