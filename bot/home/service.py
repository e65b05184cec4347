"""The App Home tab: a rep's day (follow-ups, stalled deals, pipeline) and, for a manager, the team's funnel.

One read transaction (after the request context's): the statistics over whole stage histories
are cached per process (HOME_STATS_TTL) and refreshed in the background when they age.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.money import Rates
from bot.domain.values import Context, FollowUpView, OpportunityView
from bot.followups.service import FollowUps
from storage.analytics import Funnel, Scope, StagePipeline, Stalled, medians_of
from storage.db import UnitOfWorkFactory
from storage.deals import follow_up_view, to_view

log = logging.getLogger(__name__)

# The App Home's statistics over whole stage histories (stage medians, the team funnel) are reused this long;
# after that, up to HOME_STATS_STALE_LIMIT, the old figures are shown while fresh ones are computed in the background.
HOME_STATS_TTL = timedelta(minutes=15)
HOME_STATS_STALE_LIMIT = timedelta(days=7)


HOME_ITEMS = 40


HOME_CHANGED_WINDOW = timedelta(days=7)  # a manager's team funnel of another pipeline: its reps' deals changed in it this recently (or open)


@dataclass(frozen=True)
class TeamFunnel:
    """A manager's team in one pipeline: its funnel and stalled deals (the deals now in it, their visits to its stages)."""

    pipeline_id: int
    funnel: Funnel
    stalled: Stalled


@dataclass(frozen=True)
class HomePage:
    owner_id: str
    pipeline: list[StagePipeline]  # the owner's open deals per stage (storage.analytics: pipeline_by_stage)
    rates: Rates
    items: list[OpportunityView]
    total: int
    now: datetime
    due: list[tuple[FollowUpView, OpportunityView]]
    follow_ups: dict[int, FollowUpView]
    my_stalled: Stalled
    team: tuple[Funnel, Stalled] | None  # the team's own pipeline's (teams[0])
    teams: tuple[TeamFunnel, ...] = ()  # a manager's: the team's pipeline's
    other_pipelines: tuple[int, ...] = ()  # a manager's: the other pipelines its reps' deals are in (named, with a pointer)


class Home:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, follow_ups: FollowUps) -> None:
        self.uow = uow
        self.clock = clock
        self.follow_ups = follow_ups
        self._stats: dict[tuple, tuple[datetime, object]] = {}
        self._stats_lock = threading.Lock()
        self._refreshing: set[tuple] = set()
        self._pool: ThreadPoolExecutor | None = None

    def page(self, ctx: Context) -> HomePage:
        now = self.clock.now()
        actor = ctx.actor
        with self.uow() as uow:
            due = self.follow_ups.due_today(ctx, uow)
            rows, total = uow.deals.open_opportunities(ctx.team_id, actor.user_id, stage_id=None, offset=0, limit=HOME_ITEMS)
            items = [to_view(r) for r in rows]
            follow_ups = {k: follow_up_view(v) for k, v in uow.follow_ups.next_follow_ups(ctx.team_id, [o.id for o in items]).items()}
            max_days = {s.id: s.max_days for p in ctx.pipelines.all for s in p.stages + p.retired}
            mine = Scope(ctx.team_id, owner_ids=(actor.user_id,))
            figures = uow.figures
            pipeline = figures.pipeline_by_stage(mine, ctx.workspace.rates)
            team = None
            teams: list[TeamFunnel] = []
            other_pipelines: tuple[int, ...] = ()
            if actor.is_manager:
                # the team's pipeline with its funnel and stalled deals; the other pipelines its reps have deals open in
                # or changed in lately (one statement, none in a workspace of one pipeline) are named with a pointer to
                # their funnel: a funnel each would make the first App Home of a manager cost a pass over every
                # pipeline's visits, and the digest has their sections
                reps = Scope(ctx.team_id, owner_ids=tuple(sorted(actor.managed_user_ids)))
                own = ctx.home_pipeline.id
                used = figures.pipelines_in_use_each([reps], [now - HOME_CHANGED_WINDOW])[0] if ctx.pipelines.several else set()
                other_pipelines = tuple(p.id for p in ctx.pipelines.all if p.id in used and p.id != own)
                scope = replace(reps, pipeline_id=own)
                # the team's funnel and medians in its pipeline: one pass over its stage visits, one over its deals (cached by scope)
                team_figures = self._cached(("stage figures", scope), now, lambda f: f.stage_figures(scope, now), figures)
                teams.append(TeamFunnel(own, team_figures.funnel,
                                        figures.stalled(scope, now, limit=5, max_days=max_days, medians=medians_of(team_figures.dwell))))
                team = (teams[0].funnel, teams[0].stalled)
            # a rep's own deals are measured against the team's typical times (storage.analytics.stalled: norm_scope),
            # each deal against its own stage's (the medians are per stage, so per pipeline); a manager on no sales team
            # is measured against the reps they manage
            norms = figures.norm_scope(ctx.team_id, actor.user_id, actor.managed_user_ids)
            my_medians = self._cached(("norms", norms), now, lambda f: f.stage_medians(norms, now), figures)
            my_stalled = figures.stalled(mine, now, limit=5, max_days=max_days, medians=my_medians)
        return HomePage(actor.user_id, [p for p in pipeline if p.count], ctx.workspace.rates, items, total, now, due, follow_ups, my_stalled, team,
                        tuple(teams), other_pipelines)

    def _cached(self, key: tuple, now: datetime, compute: Callable, figures):
        """A statistic over whole stage histories (O(history): 30-100 ms for a team at 10^6 deals on
        PostgreSQL), reused for HOME_STATS_TTL (per process). An older one, up to HOME_STATS_STALE_LIMIT,
        is still returned while a background thread computes it afresh, so only the first App Home of a
        rep (team) since start-up waits for it. `compute` takes the figures repository."""
        hit = self._stats.get(key)
        age = now - hit[0] if hit is not None else None
        if hit is not None and age is not None and timedelta(0) <= age < HOME_STATS_TTL:
            return hit[1]
        if hit is not None and age is not None and timedelta(0) <= age < HOME_STATS_STALE_LIMIT:
            self._refresh_in_background(key, now, compute)
            return hit[1]
        value = compute(figures)
        self._remember(key, now, value)
        return value

    def _remember(self, key: tuple, now: datetime, value: object) -> None:
        with self._stats_lock:
            if len(self._stats) > 10_000:
                self._stats.clear()
            self._stats[key] = (now, value)

    def _refresh_in_background(self, key: tuple, now: datetime, compute: Callable) -> None:
        with self._stats_lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="home-stats")
            pool = self._pool

        def refresh() -> None:
            try:
                with self.uow() as uow:
                    self._remember(key, now, compute(uow.figures))
            except Exception:  # the stale figures stay; the next App Home tries again
                log.exception("refreshing the App Home statistics %s failed", key[0])
            finally:
                with self._stats_lock:
                    self._refreshing.discard(key)

        pool.submit(refresh)
