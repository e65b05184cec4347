"""Manager digests: what a team's pipeline looks like, what changed, where deals stall.

A digest is planned per (team, period) as an outbox row before anything is sent, so several
processes on one database send it once; a digest missed while the bot was down is planned at
the first tick after restart (only the latest missed period). Its messages and chart are further
outbox rows, each sent and retried on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from bot.digests.views import DIGEST_FULL_TOP, digest_message
from bot.domain.clock import Clock
from bot.domain.cron import last_fire_time
from bot.domain.money import Rates
from bot.domain.timezones import zone
from bot.domain.values import N_, Actor, Forbidden, NotFound, Pipeline, Pipelines, TeamView
from bot.i18n import ENGLISH, Translator, translator
from bot.outbox.dispatcher import Dispatcher, Sent, Skip
from bot.reports.charts import chart_from_data, funnel_chart_data
from bot.slack.blocks import blocks_as_text
from bot.slack.gateway import SlackGateway
from bot.teams.service import Teams
from storage import analytics
from storage.analytics import WIN_RATE_WINDOW
from storage.db import UnitOfWorkFactory
from storage.models import CANCELLED, PENDING, Delivery

log = logging.getLogger(__name__)

DIGEST, DIGEST_POST, DIGEST_CHART = "digest", "digest_post", "digest_chart"
DIGEST_BATCH = 2000  # digests claimed (and built) together per workspace
DIGEST_LEASE = timedelta(minutes=10)  # covers building a whole batch; a process that dies holding one delays it this long
DIGEST_WRITE_CHUNK = 100  # digests rendered and recorded per transaction


@dataclass(frozen=True)
class DigestSection:
    """One pipeline's part of a digest: every figure that follows deals through stages, for the team's deals
    now in that pipeline and only their visits to its stages (storage.analytics.Scope.pipeline_id)."""

    pipeline_id: int
    pipeline: tuple[analytics.StagePipeline, ...]
    changes: analytics.Changes
    stalled: analytics.Stalled
    win_rate: analytics.WinRate
    lost_reasons: tuple[analytics.LostReason, ...]  # every close to Lost in the win rate's window, by its own reason
    funnel: analytics.Funnel  # reached, stage-to-stage conversion, won and lost: the message and the chart show this one
    dwell: tuple[analytics.StageDwell, ...]
    cycle: analytics.CycleLength
    reps: analytics.RepFunnels
    closes_this_month: analytics.ExpectedCloses
    closes_next_month: analytics.ExpectedCloses


@dataclass(frozen=True)
class DigestData:
    """A team's digest: a section per pipeline the team uses — its own pipeline (TeamView.pipeline_id, else the
    workspace's first) first and always, then, in the workspace's order, any other pipeline in which the team's
    reps have deals open now or changed in the period — and the team-wide lines that have no stages (overdue
    follow-ups, open deals without one) once."""

    team: TeamView
    rates: Rates
    since: datetime
    now: datetime
    overdue: tuple[analytics.OverdueFollowUps, ...]
    without_follow_up: analytics.OpenWithoutFollowUp
    sections: tuple[DigestSection, ...]  # the team's own pipeline's first

    @property
    def own(self) -> DigestSection:
        return self.sections[0]

    @property
    def others(self) -> tuple[DigestSection, ...]:
        return self.sections[1:]


def _month_bounds(now: datetime, tz_name: str | None) -> tuple[date, date, date]:
    today = now.astimezone(zone(tz_name)).date()
    this_month = today.replace(day=1)
    next_month = (this_month + timedelta(days=32)).replace(day=1)
    after_next = (next_month + timedelta(days=32)).replace(day=1)
    return this_month, next_month, after_next


_TUPLES = ("pipeline", "dwell", "lost_reasons")


def _figures_of(columns: dict[str, list], i: int) -> dict[str, Any]:
    """The i-th scope's value of every figure, as a DigestSection's fields (its lists of lines as tuples)."""
    return {name: tuple(values[i]) if name in _TUPLES else values[i] for name, values in columns.items()}


def _by_window(scopes: list[analytics.Scope], windows: list, compute: Callable[[list[analytics.Scope], Any], list]) -> list:
    """compute(scopes, window) once per distinct window (normally one for a whole batch), results in scope order."""
    indexes: dict[Any, list[int]] = {}
    for i, window in enumerate(windows):
        indexes.setdefault(window, []).append(i)
    result: list = [None] * len(scopes)
    for window, chosen in indexes.items():
        for i, value in zip(chosen, compute([scopes[i] for i in chosen], window)):
            result[i] = value
    return result


class Digests:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, teams: Teams, slack: SlackGateway, team_ids: Callable[[], list[str]]) -> None:
        self.uow = uow
        self.clock = clock
        self.teams = teams
        self.slack = slack
        self.team_ids = team_ids  # the workspaces this bot token serves
        self.on_built: Callable[[float], object] | None = None  # given each build_many's seconds (bot/metrics.py)

    # ----- content ----------------------------------------------------------------------------

    def build(self, team_id: str, team: TeamView, since: datetime, now: datetime | None = None) -> DigestData:
        return self.build_many(team_id, [(team, since)], now)[0]

    def build_many(self, team_id: str, requests: Sequence[tuple[TeamView, datetime]], now: datetime | None = None) -> list[DigestData]:
        """The digests of several sales teams of one workspace, each team with its `since`.

        Every figure is one statement grouped by team over the workspace (analytics.*_each), not one
        statement per team; the figures with a window of their own (what changed since the team's
        last digest, the closes expected in the team's months) take one statement per distinct window.
        """
        if not requests:
            return []
        started = time.perf_counter()
        now = now or self.clock.now()
        with self.uow() as uow:
            figures = uow.figures
            workspace = uow.workspaces.view(team_id)
            pipelines = uow.workspaces.pipelines(team_id)
            rates = workspace.rates if workspace else Rates("USD")
            teams = [team for team, _ in requests]
            sinces = [since for _, since in requests]
            scopes = [analytics.Scope(team_id=team_id, owner_ids=team.member_ids or ("",)) for team in teams]
            months = [_month_bounds(now, team.timezone or (workspace.timezone if workspace else None)) for team in teams]
            # Which pipelines each team's digest has a section for: its own, then those its reps' deals are in
            # (one statement for the whole batch; none in a workspace of one pipeline).
            used = figures.pipelines_in_use_each(scopes, sinces) if pipelines.several else [set() for _ in teams]
            own = [pipelines.of_team(team.pipeline_id).id for team in teams]
            sections_of: list[list[int]] = [[own[i]] + [p.id for p in pipelines.all if p.id in used[i] and p.id != own[i]]
                                            for i in range(len(teams))]
            # Every figure of a pipeline once for all the teams that have a section of it: a batch costs one
            # digest's statements per pipeline in use, whatever the number of teams.
            sections: dict[tuple[int, int], DigestSection] = {}
            for pipeline in pipelines.all:
                chosen = [i for i in range(len(teams)) if pipeline.id in sections_of[i]]
                if chosen:
                    for i, section in zip(chosen, self._sections(figures, pipeline.id, [scopes[i] for i in chosen],
                                                                 [sinces[i] for i in chosen], [months[i] for i in chosen], rates, now)):
                        sections[(i, pipeline.id)] = section
            overdue = figures.overdue_follow_ups_each(scopes, now)  # follow-ups and deals without one: team-wide, every pipeline
            without_follow_up = figures.open_without_follow_up_each(scopes, limit=DIGEST_FULL_TOP)
        built = [DigestData(team=team, rates=rates, since=since, now=now, overdue=tuple(overdue[i]), without_follow_up=without_follow_up[i],
                            sections=tuple(sections[(i, pipeline_id)] for pipeline_id in sections_of[i]))
                 for i, (team, since) in enumerate(requests)]
        if self.on_built is not None:
            self.on_built(time.perf_counter() - started)
        return built

    @staticmethod
    def _sections(figures: analytics.Figures, pipeline_id: int, scopes: list[analytics.Scope], sinces: list[datetime],
                  months: list[tuple[date, date, date]], rates: Rates, now: datetime) -> list[DigestSection]:
        """One pipeline's section of several teams' digests: each figure one statement for all of them (the
        figures with a window of their own, one per distinct window)."""
        scopes = [replace(scope, pipeline_id=pipeline_id) for scope in scopes]
        stage_figures = figures.stage_figures_each(scopes, now)  # dwell (one pass over the visits) and the funnel
        changes = _by_window(scopes, sinces, lambda subset, since: figures.changes_between_each(subset, since, now, limit=DIGEST_FULL_TOP))
        closes_this_month = _by_window(scopes, [(m[0], m[1]) for m in months],
                                       lambda subset, window: figures.expected_closes_each(subset, rates, *window))
        closes_next_month = _by_window(scopes, [(m[1], m[2]) for m in months],
                                       lambda subset, window: figures.expected_closes_each(subset, rates, *window))
        columns = dict(
            pipeline=figures.pipeline_by_stage_each(scopes, rates),
            changes=changes,
            # the medians stalled deals are measured against are those of the dwell figures (the same visits)
            stalled=figures.stalled_each(scopes, now, limit=DIGEST_FULL_TOP, medians=[analytics.medians_of(f.dwell) for f in stage_figures]),
            win_rate=figures.win_rate_each(scopes, now - WIN_RATE_WINDOW, now, rates),
            lost_reasons=figures.lost_reasons_each(scopes, now - WIN_RATE_WINDOW, now),
            funnel=[f.funnel for f in stage_figures],
            dwell=[f.dwell for f in stage_figures],
            cycle=figures.cycle_length_each(scopes, now - WIN_RATE_WINDOW, now),
            reps=figures.rep_funnels_each(scopes, now),
            closes_this_month=closes_this_month,
            closes_next_month=closes_next_month,
        )
        return [DigestSection(pipeline_id=pipeline_id, **_figures_of(columns, i)) for i in range(len(scopes))]

    def full_report(self, actor: Actor, sales_team_id: int | None) -> tuple[DigestData]:
        """The digest's "Full report" modal: for the team's manager and admins."""
        team = self.teams.get(actor.team_id, sales_team_id) if sales_team_id is not None else None
        if team is None:
            raise NotFound(N_("That team doesn't exist any more."))
        if not (actor.is_admin or team.manager_id == actor.user_id):
            raise Forbidden(N_("The full report of {team} is for its manager and admins."), team=team.name)
        since = self.previous_period(actor.team_id, team) or self.clock.now() - timedelta(days=1)
        return (self.build(actor.team_id, team, since),)

    def render(self, data: DigestData, team_id: str) -> tuple[str, list[dict]]:
        """The digest as its team's channel reads it (the workspace's language)."""
        with self.uow() as uow:
            pipelines = uow.workspaces.pipelines(team_id)
            workspace = uow.workspaces.view(team_id)
        return digest_message(data, pipelines, t=translator(workspace.language if workspace else ENGLISH))

    def chart(self, data: DigestData, pipelines: Pipelines, *, t: Translator) -> bytes:
        """The chart of the team's own pipeline (see `_outbox_rows`)."""
        pipeline = pipelines.of_team(data.own.pipeline_id)
        return chart_from_data(chart_title_of(data.team, t, pipeline if pipelines.several else None),
                               funnel_chart_data(data.own.funnel, pipeline), t=t)

    def preview(self, team_id: str, team: TeamView) -> str:
        """The digest as terminal text (oppbot digest --preview): no Slack involved."""
        since = self.previous_period(team_id, team) or self.clock.now() - timedelta(days=1)
        text, message = self.render(self.build(team_id, team, since), team_id)
        return blocks_as_text(message)

    # ----- scheduling -------------------------------------------------------------------------

    def previous_period(self, team_id: str, team: TeamView) -> datetime | None:
        with self.uow() as uow:
            return uow.digests.last_digest_periods(team_id).get(team.id)

    def plan_due(self, now: datetime | None = None) -> int:
        """Record the latest due digest of every team that has not had it; returns how many were planned."""
        now = now or self.clock.now()
        planned = 0
        for team_id in self.team_ids():
            with self.uow() as uow:
                previous = uow.digests.last_digest_periods(team_id)
            workspace_tz = self._workspace_tz(team_id)
            for team in self.teams.all(team_id):
                try:
                    fire = last_fire_time(team.digest, team.timezone or workspace_tz, now)
                except ValueError:
                    log.error("team %s has an invalid digest schedule %r", team.name, team.digest)
                    continue
                if fire is None or (team.id in previous and previous[team.id] >= fire):
                    continue  # nothing new: no query, no write
                planned += self._plan(team_id, team, fire.astimezone(timezone.utc), now, scheduled=True, previous=previous.get(team.id))
        return planned

    def plan_now(self, team_name: str | None = None) -> int:
        """`oppbot digest --now`: a digest for every team (or one) at once, whatever the schedule."""
        now = self.clock.now()
        planned = 0
        for team_id in self.team_ids():
            with self.uow() as uow:
                previous = uow.digests.last_digest_periods(team_id)
            for team in self.teams.all(team_id):
                if team_name is None or team.name.lower() == team_name.lower():
                    planned += self._plan(team_id, team, now, now, scheduled=False, previous=previous.get(team.id))
        return planned

    def _workspace_tz(self, team_id: str) -> str:
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
        return workspace.timezone if workspace else "UTC"

    def _plan(self, team_id: str, team: TeamView, period: datetime, now: datetime, *, scheduled: bool, previous: datetime | None) -> int:
        """Record one digest (period, since); `previous` is the team's last scheduled period as read by the caller."""
        if scheduled and previous is not None and previous >= period:
            return 0
        key = f"digest:{team.id}:{'scheduled' if scheduled else 'manual'}:{int(period.timestamp())}"
        since = previous or period - timedelta(days=1)
        # A team seen for the first time starts with its next period: its past one is recorded, not sent.
        baseline = scheduled and previous is None
        with self.uow(write=True) as uow:
            recorded = uow.outbox.schedule(team_id=team_id, kind=DIGEST, subject_id=team.id, dedupe_key=key, due_at=now, now=now,
                                           payload={"period": period.isoformat(), "since": since.isoformat(), "scheduled": scheduled},
                                           status=CANCELLED if baseline else PENDING)
            uow.commit()
        # not recorded: this period was planned already (by another process, or a second `oppbot digest --now` that second)
        return 1 if recorded and not baseline else 0

    # ----- delivery ---------------------------------------------------------------------------

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register_batch(DIGEST, self.send_digests, size=DIGEST_BATCH, lease=DIGEST_LEASE)
        # A destination's messages and charts go out in the order they were planned (each chart after
        # its message): side by side, a quickly drawn chart could land above the text it belongs to.
        dispatcher.register(DIGEST_POST, self.send_post, sequence=_destination)
        dispatcher.register(DIGEST_CHART, self.send_chart, sequence=_destination)
        dispatcher.before_run = self.plan_due

    def send_digests(self, deliveries: list[Delivery], now: datetime) -> list[Sent | Skip | Exception]:
        """Build the claimed digests of a workspace in one batch (every figure one statement for all of
        them), then record each digest's message and chart per destination as outbox rows of their own.

        One outcome per row: Sent once its messages are recorded (their dedupe keys make a retry
        record nothing twice), Skip for a team that is gone, or the exception that stopped it (retried).
        """
        outcomes: list[Sent | Skip | Exception | None] = [None] * len(deliveries)
        by_workspace: dict[str, list[int]] = {}
        for i, delivery in enumerate(deliveries):
            by_workspace.setdefault(delivery.team_id, []).append(i)
        for team_id, indexes in by_workspace.items():
            try:
                teams = {team.id: team for team in self.teams.all(team_id)}
                wanted = []
                for i in indexes:
                    team = teams.get(deliveries[i].subject_id)
                    if team is None:
                        outcomes[i] = Skip("the team is gone")
                    else:
                        wanted.append((i, team))
                built = self.build_many(team_id, [(team, datetime.fromisoformat(deliveries[i].payload["since"])) for i, team in wanted], now)
                stages, languages = self._readers(team_id, [team for _, team in wanted])
            except Exception as exc:
                log.exception("building the digests of %s failed", team_id)
                for i in indexes:
                    outcomes[i] = outcomes[i] or exc
                continue
            # Rendered and recorded a slice at a time: a transaction (and the rendered messages in memory)
            # stays small however many teams are due.
            for start in range(0, len(wanted), DIGEST_WRITE_CHUNK):
                rows, done = [], []
                for (i, team), data in zip(wanted[start:start + DIGEST_WRITE_CHUNK], built[start:start + DIGEST_WRITE_CHUNK]):
                    try:
                        rows.extend(self._outbox_rows(deliveries[i], team, data, stages, now, languages))
                        done.append(i)
                    except Exception as exc:
                        log.exception("rendering the digest of team %s failed", team.name)
                        outcomes[i] = exc
                try:
                    with self.uow(write=True) as uow:
                        uow.outbox.schedule_many(rows, now=now)
                        uow.commit()
                except Exception as exc:
                    for i in done:
                        outcomes[i] = exc
                else:
                    for i in done:
                        outcomes[i] = Sent()
        # every slot is filled above (Skip, Sent or the exception that stopped the row); mypy cannot see that none is left None
        return outcomes  # type: ignore[return-value]

    def _readers(self, team_id: str, teams: Sequence[TeamView]) -> tuple[Pipelines, dict[str, str]]:
        """The workspace's pipelines, and the language of each destination: a manager's DM in the manager's
        language (their Slack locale, else the workspace's), a channel ("#channel") in the workspace's."""
        with self.uow() as uow:
            stages = uow.workspaces.pipelines(team_id)
            workspace = uow.workspaces.view(team_id)
            languages = {"#channel": workspace.language if workspace else ENGLISH}
            for manager_id in {team.manager_id for team in teams}:
                languages[manager_id] = uow.workspaces.reader_language(team_id, manager_id)
        return stages, languages

    def _outbox_rows(self, delivery: Delivery, team: TeamView, data: DigestData, stages: Pipelines, now: datetime,
                     languages: dict[str, str]) -> list[dict]:
        """One message and one chart per destination (the manager's DM, the team's channel), each in its reader's language.

        The chart is the team's own pipeline's only (the first section), not one per section: files are the
        slowest and most rate-limited thing the bot sends (files.upload is Slack's tier 2), a second chart per
        pipeline would multiply the uploads of every batch, and the other sections are usually a rep's few
        stray deals, whose conversion the message's text says already."""
        pipeline = stages.of_team(data.own.pipeline_id)
        named = pipeline if stages.several else None
        chart = funnel_chart_data(data.own.funnel, pipeline)
        destinations = [("user", team.manager_id)] + ([("channel", team.channel)] if team.channel else [])
        rendered: dict[str, tuple[str, list[dict]]] = {}
        rows = []
        for kind, target in destinations:
            language = languages.get(target if kind == "user" else "#channel", ENGLISH)
            t = translator(language)
            if language not in rendered:
                rendered[language] = digest_message(data, stages, t=t)
            text, message = rendered[language]
            base = f"{delivery.dedupe_key}:{kind}:{target}"
            common = dict(team_id=delivery.team_id, subject_id=team.id, due_at=now)
            rows.append(dict(common, kind=DIGEST_POST, dedupe_key=f"{base}:post",
                             payload={"kind": kind, "target": target, "text": text, "blocks": message}))
            rows.append(dict(common, kind=DIGEST_CHART, dedupe_key=f"{base}:chart",
                             payload={"kind": kind, "target": target, "title": chart_title_of(team, t, named), "language": language, **chart}))
        return rows

    def _channel(self, payload: dict) -> str:
        return self.slack.dm_channel(payload["target"]) if payload["kind"] == "user" else payload["target"]

    def send_post(self, delivery: Delivery, now: datetime) -> Sent:
        channel, ts = self.slack.post(self._channel(delivery.payload), delivery.payload["text"], delivery.payload["blocks"])
        return Sent(channel, ts)

    def send_chart(self, delivery: Delivery, now: datetime) -> Sent:
        payload = delivery.payload
        png = chart_from_data(payload["title"], payload, t=translator(payload.get("language", ENGLISH)))
        channel = self._channel(payload)
        self.slack.upload(channel, png, "funnel.png", payload["title"])
        return Sent(channel)


def chart_title_of(team: TeamView, t: Translator, pipeline: Pipeline | None = None) -> str:
    """The digest chart's title; the pipeline named when the workspace has several."""
    if pipeline is not None:
        return t("{team} · {pipeline}: funnel", team=team.name, pipeline=pipeline.name)
    return t("{team}: funnel", team=team.name)


def _destination(delivery: Delivery) -> str:
    return f"digest:{delivery.payload['kind']}:{delivery.payload['target']}"
