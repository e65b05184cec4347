"""The App Home tab."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.deals.views import follow_up_line, opportunity_line, overdue_first, stalled_why
from bot.domain.money import Rates, sum_money
from bot.domain.values import (
    FollowUpView,
    OpportunityView,
    Pipeline,
    Pipelines,
)
from bot.home.service import HomePage, TeamFunnel
from bot.i18n import Translator
from bot.slack.blocks import (
    HEADER_TEXT,
    SECTION_TEXT,
    VIEW_BLOCKS,
    clip,
    escape,
    mrkdwn,
    plain,
    rates_note,
)
from bot.slack.ids import DETAILS_BUTTON, DONE_BUTTON, HOME_NEW_BUTTON
from storage.analytics import StagePipeline

HOME_FOLLOW_UPS = 10


def stalled_lines(stalled, stages: Pipelines, *, top: int, owners: bool, t: Translator) -> str:
    lines = []
    for deal in stalled.deals[:top]:
        said = {"ref": f"OPP-{deal.number}", "name": escape(clip(deal.name, 60)), "why": stalled_why(deal, stages, t=t)}
        lines.append(t("• *{ref}* {name} (<@{owner}>) · {why}", owner=deal.owner_id, **said) if owners else t("• *{ref}* {name} · {why}", **said))
    more = "\n" + t("…and {n} more", n=stalled.total - len(lines)) if stalled.total > len(lines) else ""
    return "\n".join(lines) + more


def home_view(owner_id: str, pipeline: Sequence[StagePipeline], items: Sequence[OpportunityView], total: int, stages: Pipelines | Pipeline, now: datetime,
              *, rates: Rates, due: Sequence[tuple[FollowUpView, OpportunityView]] = (), follow_ups: dict[int, FollowUpView] | None = None,
              my_stalled=None, team=None, teams: Sequence[TeamFunnel] = (), other_pipelines: Sequence[int] = (), t: Translator) -> dict:
    """The App Home: "my day" (follow-ups, stalled deals, my pipeline); for a manager also the team's funnel and stalled list.

    `team` is (the funnel, stalled) of the deals of the reps the viewer manages, or None; `teams` the same per
    pipeline (the team's first), which replaces it when given: a funnel per pipeline, named when there are several.
    "Your pipeline" is grouped by pipeline when the workspace has several: each pipeline's stages under its name,
    with its own open and weighted totals (none summed across pipelines).
    """
    follow_ups = follow_ups or {}
    stages = stages if isinstance(stages, Pipelines) else Pipelines((stages,))
    blocks: list[dict] = [
        {"type": "header", "text": plain(t("Your pipeline"))},
        {"type": "actions", "elements": [{"type": "button", "action_id": HOME_NEW_BUTTON, "text": plain(t("New opportunity")), "style": "primary", "value": "new"}]},
    ]
    if due:
        overdue = sum(1 for f, _ in due if f.due_at < now)
        blocks.append({"type": "section", "text": mrkdwn(t("*Follow-ups: {overdue} overdue, {due} due today*", overdue=overdue, due=len(due) - overdue))})
        for follow_up, opp in list(due)[:HOME_FOLLOW_UPS]:
            blocks.append({"type": "section", "text": mrkdwn(clip(f"{follow_up_line(follow_up, now, t=t)}\n{opp.ref} · {escape(opp.name)}", SECTION_TEXT)),
                           "accessory": {"type": "button", "action_id": DONE_BUTTON, "text": plain(t("Done")), "value": str(follow_up.id)}})
        if len(due) > HOME_FOLLOW_UPS:
            blocks.append({"type": "context", "elements": [mrkdwn(t("…and {n} more", n=len(due) - HOME_FOLLOW_UPS))]})
    if my_stalled is not None and my_stalled.total:
        blocks.append({"type": "section", "text": mrkdwn(clip(t("*Your stalled deals ({n})*", n=my_stalled.total) + "\n"
                                                              + stalled_lines(my_stalled, stages, top=5, owners=False, t=t), SECTION_TEXT))})
    funnels = [(stages.of_team(f.pipeline_id), f.funnel, f.stalled) for f in teams] if teams else \
        [(None, team[0], team[1])] if team is not None else []
    for of_pipeline, team_funnel, team_stalled in funnels:
        funnel = t("no deals yet")
        if any(s.reached for s in team_funnel.steps) or team_funnel.won or team_funnel.lost:
            funnel = " · ".join([*(f"{escape(stages.name_of(s.stage_id))} {s.reached} → {t.percent(s.rate)}"
                                   for s in team_funnel.steps),
                                 t("Won {n}", n=team_funnel.won), t("Lost {n}", n=team_funnel.lost)])
        if of_pipeline is not None and stages.several:
            heading = t("*Your team's funnel in {pipeline}* (deals that reached each stage → conversion to the next, the last to Won)",
                        pipeline=escape(of_pipeline.name))
        else:
            heading = t("*Your team's funnel* (deals that reached each stage → conversion to the next, the last to Won)")
        text = heading + "\n" + funnel
        if team_stalled.total:
            text += "\n" + t("*Team's stalled deals ({n})*", n=team_stalled.total) + "\n" + stalled_lines(team_stalled, stages, top=5, owners=True, t=t)
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT))})
    if other_pipelines:
        names = [stages.get(pipeline_id) for pipeline_id in other_pipelines]
        listed = [p for p in names if p is not None]
        if listed:
            blocks.append({"type": "context", "elements": [mrkdwn(clip(t(
                "Your team also has deals in {pipelines}: `/opp funnel team pipeline:{name}` shows a pipeline's funnel.",
                pipelines=", ".join(escape(p.name) for p in listed), name=escape(listed[0].name.split()[0].lower())), SECTION_TEXT))]})
    if not total:
        blocks.append({"type": "section", "text": mrkdwn(t("You have no open opportunities. Create one with the button above or `/opp new`."))})
        return {"type": "home", "blocks": blocks}
    by_stage = {s.stage_id: s for s in pipeline if s.count}
    # each pipeline with open deals, its stages (retired ones still holding deals last), in the workspace's order
    groups = [(p, [stage for stage in p.stages + p.retired if stage.id in by_stage]) for p in stages.all]
    groups = [(p, present) for p, present in groups if present]
    grouped = stages.several and bool(groups)  # a workspace of several pipelines: each named, with its own totals
    amount = sum_money((s.amount for s in by_stage.values()), rates.base)
    note = rates_note(rates, [amount], t)
    if not grouped:
        weighted = sum_money((s.weighted_amount for s in by_stage.values()), rates.base)
        blocks.append({"type": "section", "text": mrkdwn(t.plural("*Open:* {n} deal · {amount} · weighted {weighted}", "*Open:* {n} deals · {amount} · weighted {weighted}",
                                                                  sum(s.count for s in by_stage.values()), amount=t.money(amount), weighted=t.money(weighted))
                                                         + (f"\n_{note}_" if note else ""))})
    elif note:
        blocks.append({"type": "context", "elements": [mrkdwn(f"_{note}_")]})
    present = [stage for _, stages_in in groups for stage in stages_in]
    # Every stage keeps its divider, summary and "…and N more" line, every pipeline its totals; deals fill what is left.
    room = VIEW_BLOCKS - len(blocks) - 3 * len(present) - (2 * len(groups) if grouped else 0)
    shown: list[OpportunityView] = []
    for stage in present:
        shown.extend(overdue_first([o for o in items if o.stage_id == stage.id], follow_ups, now))
    shown = shown[:max(0, room)]
    first_of = {stages_in[0].id: p for p, stages_in in groups}
    for stage in present:
        if grouped and stage.id in first_of:
            p = first_of[stage.id]
            rows = [by_stage[s.id] for s in dict(groups)[p]]
            blocks.append({"type": "header", "text": plain(clip(t("{pipeline} pipeline", pipeline=p.name), HEADER_TEXT))})
            blocks.append({"type": "section", "text": mrkdwn(t.plural(
                "*Open in {pipeline}:* {n} deal · {amount} · weighted {weighted}", "*Open in {pipeline}:* {n} deals · {amount} · weighted {weighted}",
                sum(r.count for r in rows), pipeline=escape(p.name), amount=t.money(sum_money((r.amount for r in rows), rates.base)),
                weighted=t.money(sum_money((r.weighted_amount for r in rows), rates.base))))})
        summary = by_stage[stage.id]
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": mrkdwn(t("*{stage}* · {n} open · {amount} · weighted {weighted}", stage=escape(stage.name), n=summary.count,
                                                           amount=t.money(summary.amount), weighted=t.money(summary.weighted_amount)))})
        in_stage = [o for o in shown if o.stage_id == stage.id]
        for opp in in_stage:
            blocks.append({"type": "section", "text": mrkdwn(opportunity_line(opp, now, follow_ups.get(opp.id), t=t)),
                           "accessory": {"type": "button", "action_id": DETAILS_BUTTON, "text": plain(t("Open")), "value": str(opp.id)}})
        hidden = summary.count - len(in_stage)
        if hidden > 0:
            blocks.append({"type": "context", "elements": [mrkdwn(t("…and {n} more in {stage}: `/opp list {name}`", n=hidden, stage=escape(stage.name),
                                                                    name=escape(clip(stage.name, 40))))]})
    return {"type": "home", "blocks": blocks}


def home_page_view(page: HomePage, stages: Pipelines | Pipeline, *, t: Translator) -> dict:
    return home_view(page.owner_id, page.pipeline, page.items, page.total, stages, page.now, rates=page.rates, due=page.due, follow_ups=page.follow_ups,
                     my_stalled=page.my_stalled, team=page.team, teams=page.teams,
                     other_pipelines=page.other_pipelines, t=t)
