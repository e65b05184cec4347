"""The funnel: deals that reached each stage and stage conversion, time in stage (from stage visits), and each
rep's funnel next to the team's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlmodel import Session

from bot.domain.values import LOST, WON
from storage.analytics._sql import (
    _active_stages,
    _days_stats,
    _float,
    _furthest_counts,
    _per_team_and_stage,
    _ratio,
    _Scopes,
    _stages,
    _visits,
)
from storage.analytics.values import (
    Funnel,
    RepFunnel,
    RepFunnels,
    RepStage,
    Scope,
    StageDwell,
    StageFigures,
    StageStep,
)
from storage.models import Opportunity


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

    def stage_conversion(self, scope: Scope, since: datetime | None = None) -> Funnel:
        """The funnel: deals that reached each active stage, the conversion from each to the next
        (the last one to Won), and the outcomes Won and Lost. The one definition every surface shows
        (`/opp funnel` and its chart, the digest and its chart, the App Home's team funnel).

        Cohort: every deal of the scope (by its current owner and the scope's filters), whatever
        its status; with `since`, only the deals created at or after it.

        Reached: a deal has reached active stage k when it ever was in stage k or in an active stage
        after it, or was ever won (a won deal has passed every open stage). So a deal that skipped
        stages has reached them, and a lost deal has reached the stages up to the furthest it was in;
        retired stages rank nowhere. Counts never increase down the funnel.

        Conversion from stage k to k+1: reached(k+1) / reached(k); from the last active stage to Won:
        won / reached(last), which counts the deals won without passing through the last stage.
        won, lost: the cohort's deals whose status is won, lost now.
        """
        return self.stage_conversion_each([scope], since)[0]

    def stage_conversion_each(self, scopes: Sequence[Scope], since: datetime | None = None) -> list[Funnel]:
        group = _Scopes(self.session, scopes)
        return _funnels(self.session, group, _stages(self.session, group.team_id, group.first.pipeline_id), since)

    # ----- 5. time in stage ----------------------------------------------------------------------

    def stage_dwell(self, scope: Scope, now: datetime) -> list[StageDwell]:
        """Days per stage visit, per stage: count, average and median of all visits (the ones still
        going count until `now`) and of finished visits only.

        Active stages in position order, then retired stages that have visits.
        """
        return self.stage_dwell_each([scope], now)[0]

    def stage_dwell_each(self, scopes: Sequence[Scope], now: datetime) -> list[list[StageDwell]]:
        group = _Scopes(self.session, scopes)
        return _dwell(self.session, group, now, _stages(self.session, group.team_id, group.first.pipeline_id))

    def stage_figures(self, scope: Scope, now: datetime) -> StageFigures:
        """`stage_dwell` and `stage_conversion` (of every deal: no `since`) of one scope: one pass over
        its stage visits (dwell and each deal's furthest visit), one count of its deals won and lost."""
        return self.stage_figures_each([scope], now)[0]

    def stage_figures_each(self, scopes: Sequence[Scope], now: datetime) -> list[StageFigures]:
        group = _Scopes(self.session, scopes)
        stages = _stages(self.session, group.team_id, group.first.pipeline_id)
        figures = _stage_rows(self.session, group, now)
        dwell = _dwell(self.session, group, now, stages, figures)
        funnels = _funnels(self.session, group, stages, furthest=figures)
        return [StageFigures(dwell=tuple(d), funnel=f) for d, f in zip(dwell, funnels)]

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
        stage_ids = _active_stages(self.session, group.team_id, group.first.pipeline_id)
        visits = _visits(self.session, group, now, attribute_to_change_owner=True)
        per_rep = (select(*_funnel_figures(visits, visits.c.grp, visits.c.owner_id, per_owner=True))
                   .group_by(visits.c.grp, visits.c.owner_id, visits.c.stage_id))
        team = (select(*_funnel_figures(visits, visits.c.grp, cast(null(), String).label("owner_id"), per_owner=False))
                .group_by(visits.c.grp, visits.c.stage_id))
        figures: list[dict[str | None, dict[int, Any]]] = [{} for _ in scopes]
        for r in group.execute(union_all(per_rep, team)):
            figures[r.grp].setdefault(r.owner_id, {})[r.stage_id] = r
        return [_rep_funnels(stage_ids, scope, mine) for scope, mine in zip(scopes, figures)]


def _dwell(session: Session, group: _Scopes, now: datetime, stages: list[Any],
           figures: dict[tuple[int, int], Any] | None = None) -> list[list[StageDwell]]:
    """Each scope's `stage_dwell` lines from one pass over its stage visits (`figures`: that pass's
    rows by (grp, stage_id), when the caller has them already)."""
    if figures is None:
        figures = _stage_rows(session, group, now)

    def line(stage: Any, r: Any) -> StageDwell:
        return StageDwell(
            stage_id=stage.id, visits=r.visits if r else 0, avg_days=_float(r.avg_days) if r else None,
            median_days=_float(r.median_days) if r else None, finished_visits=r.finished_visits if r else 0,
            finished_avg_days=_float(r.finished_avg_days) if r else None,
            finished_median_days=_float(r.finished_median_days) if r else None,
        )

    return _per_team_and_stage(session, group, figures, line, stages)


def _stage_rows(session: Session, group: _Scopes, now: datetime) -> dict[tuple[int, int], Any]:
    """The one pass over the scopes' stage visits: dwell aggregates and furthest-visit counts per (grp, stage_id)."""
    stats = _days_stats(session, _visits(session, group, now))
    return {(r.grp, r.stage_id): r for r in group.execute(select(stats))}


def _furthest_query(session: Session, group: _Scopes, since: datetime | None) -> Any:
    """The furthest-visit counts per (grp, stage_id) of the deals created at or after `since` (all: None)."""
    visits = _visits(session, group, None, created_since=since)
    return (select(visits.c.grp, visits.c.stage_id, *_furthest_counts(visits))
            .where(visits.c.furthest_visit)
            .group_by(visits.c.grp, visits.c.stage_id))


def _funnels(session: Session, group: _Scopes, stages: list[Any], since: datetime | None = None,
             furthest: dict[tuple[int, int], Any] | None = None) -> list[Funnel]:
    """Each scope's `Funnel` (see `stage_conversion`) from each deal's furthest visit
    (storage.visits) and a count of the deals won and lost now.

    A deal's furthest visit is in the highest-ranked active stage it reached, and is advanced when
    the deal was ever won; on a retired stage it marks a deal won from retired stages only. So a
    deal whose furthest visit is in stage j has reached every stage up to j, or every stage when it
    was ever won; a deal without one (never won, never in an active stage) has reached none.
    `furthest`: rows with furthest and furthest_advanced by (grp, stage_id), when the caller has them
    (`_stage_rows`); else they are counted here.
    """
    members = group.members()
    where = [*group.deal_filters(), Opportunity.status.in_((WON, LOST))]
    if since is not None:
        where.append(Opportunity.created_at >= since)
    outcomes = (select(members.c.grp, Opportunity.status, func.count().label("deals"))
                .select_from(Opportunity)
                .join(members, group.on(members, Opportunity.owner_id))
                .where(*where)
                .group_by(members.c.grp, Opportunity.status))
    won, lost = [0] * len(group), [0] * len(group)

    def count_outcome(grp: int, status: str, deals: int) -> None:
        if status == WON:
            won[grp] += deals
        elif status == LOST:
            lost[grp] += deals

    if furthest is None:  # one statement: the furthest counts (a stage, no status) and the outcomes (a status, no stage)
        furthest = {}
        counts = _furthest_query(session, group, since).subquery("furthest")
        closed = outcomes.subquery("outcomes")
        both = union_all(
            select(counts.c.grp, counts.c.stage_id, cast(null(), String).label("status"), counts.c.furthest, counts.c.furthest_advanced),
            select(closed.c.grp, cast(null(), Integer).label("stage_id"), closed.c.status, closed.c.deals,
                   literal_column("0", Integer)),
        )
        for r in group.execute(both):
            if r.stage_id is None:
                count_outcome(r.grp, r.status, r.furthest)
            else:
                furthest[(r.grp, r.stage_id)] = r
    else:
        for r in group.execute(outcomes):
            count_outcome(r.grp, r.status, r.deals)
    active = [stage for stage in stages if stage.active]
    retired = [stage for stage in stages if not stage.active]
    result = []
    for grp in range(len(group)):
        def count(stage: Any, name: str, grp: int = grp) -> int:
            r = furthest.get((grp, stage.id))
            return getattr(r, name) if r else 0

        ever_won = sum(count(stage, "furthest") for stage in retired)  # won from retired stages only
        # reached(k): deals whose furthest visit is in stage k or beyond, and ever-won deals whose furthest is before k
        stopped = [count(stage, "furthest") for stage in active]
        won_from = [count(stage, "furthest_advanced") for stage in active]
        reached = [sum(stopped[i:]) + sum(won_from[:i]) + ever_won for i in range(len(active))]
        steps = []
        for i, stage in enumerate(active):
            last = i + 1 == len(active)
            converted = won[grp] if last else reached[i + 1]
            steps.append(StageStep(stage_id=stage.id, next_stage_id=None if last else active[i + 1].id,
                                   reached=reached[i], converted=converted, rate=_ratio(converted, reached[i])))
        result.append(Funnel(steps=tuple(steps), won=won[grp], lost=lost[grp]))
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
