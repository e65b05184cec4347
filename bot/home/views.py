"""The App Home tab."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.deals.views import follow_up_line, opportunity_line, overdue_first, stalled_why
from bot.domain.money import Rates, sum_money
from bot.domain.values import (
    FollowUpView,
    OpportunityView,
    StageModel,
)
from bot.domain.words import count
from bot.home.service import HomePage
from bot.slack.blocks import (
    SECTION_TEXT,
    VIEW_BLOCKS,
    _more,
    clip,
    escape,
    format_money,
    mrkdwn,
    percent,
    plain,
    rates_note,
)
from bot.slack.ids import DETAILS_BUTTON, DONE_BUTTON, HOME_NEW_BUTTON
from storage.analytics import StagePipeline

HOME_FOLLOW_UPS = 10


def stalled_lines(stalled, stages: StageModel, *, top: int, owners: bool) -> str:
    lines = []
    for deal in stalled.deals[:top]:
        who = f" (<@{deal.owner_id}>)" if owners else ""
        lines.append(f"• *OPP-{deal.number}* {escape(clip(deal.name, 60))}{who} · {stalled_why(deal, stages)}")
    return "\n".join(lines) + _more(stalled.total, len(lines))


def home_view(owner_id: str, pipeline: Sequence[StagePipeline], items: Sequence[OpportunityView], total: int, stages: StageModel, now: datetime,
              *, rates: Rates, due: Sequence[tuple[FollowUpView, OpportunityView]] = (), follow_ups: dict[int, FollowUpView] | None = None,
              my_stalled=None, team=None) -> dict:
    """The App Home: "my day" (follow-ups, stalled deals, my pipeline); for a manager also the team's funnel and stalled list.

    `team` is (the funnel, stalled) of the deals of the reps the viewer manages, or None.
    """
    follow_ups = follow_ups or {}
    blocks: list[dict] = [
        {"type": "header", "text": plain("Your pipeline")},
        {"type": "actions", "elements": [{"type": "button", "action_id": HOME_NEW_BUTTON, "text": plain("New opportunity"), "style": "primary", "value": "new"}]},
    ]
    if due:
        overdue = sum(1 for f, _ in due if f.due_at < now)
        blocks.append({"type": "section", "text": mrkdwn(f"*Follow-ups: {overdue} overdue, {len(due) - overdue} due today*")})
        for follow_up, opp in list(due)[:HOME_FOLLOW_UPS]:
            blocks.append({"type": "section", "text": mrkdwn(clip(f"{follow_up_line(follow_up, now)}\n{opp.ref} · {escape(opp.name)}", SECTION_TEXT)),
                           "accessory": {"type": "button", "action_id": DONE_BUTTON, "text": plain("Done"), "value": str(follow_up.id)}})
        if len(due) > HOME_FOLLOW_UPS:
            blocks.append({"type": "context", "elements": [mrkdwn(f"…and {len(due) - HOME_FOLLOW_UPS} more")]})
    if my_stalled is not None and my_stalled.total:
        blocks.append({"type": "section", "text": mrkdwn(clip(f"*Your stalled deals ({my_stalled.total})*\n"
                                                              + stalled_lines(my_stalled, stages, top=5, owners=False), SECTION_TEXT))})
    if team is not None:
        team_funnel, team_stalled = team
        funnel = "no deals yet"
        if any(s.reached for s in team_funnel.steps) or team_funnel.won or team_funnel.lost:
            funnel = " · ".join([*(f"{escape(stages.name_of(s.stage_id))} {s.reached} → {percent(s.rate)}" for s in team_funnel.steps),
                                 f"Won {team_funnel.won}", f"Lost {team_funnel.lost}"])
        text = f"*Your team's funnel* (deals that reached each stage → conversion to the next, the last to Won)\n{funnel}"
        if team_stalled.total:
            text += f"\n*Team's stalled deals ({team_stalled.total})*\n" + stalled_lines(team_stalled, stages, top=5, owners=True)
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT))})
    if not total:
        blocks.append({"type": "section", "text": mrkdwn("You have no open opportunities. Create one with the button above or `/opp new`.")})
        return {"type": "home", "blocks": blocks}
    by_stage = {s.stage_id: s for s in pipeline if s.count}
    present = [stage for stage in stages.stages if stage.id in by_stage]
    amount = sum_money((s.amount for s in by_stage.values()), rates.base)
    weighted = sum_money((s.weighted_amount for s in by_stage.values()), rates.base)
    note = rates_note(rates, [amount])
    blocks.append({"type": "section", "text": mrkdwn(f"*Open:* {count(sum(s.count for s in by_stage.values()), 'deal', 'deals')} · {format_money(amount)} · weighted {format_money(weighted)}"
                                                     + (f"\n_{note}_" if note else ""))})
    # Every stage keeps its divider, summary and "…and N more" line; deals fill what is left.
    room = VIEW_BLOCKS - len(blocks) - 3 * len(present)
    shown: list[OpportunityView] = []
    for stage in present:
        shown.extend(overdue_first([o for o in items if o.stage_id == stage.id], follow_ups, now))
    shown = shown[:max(0, room)]
    for stage in present:
        summary = by_stage[stage.id]
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": mrkdwn(f"*{escape(stage.name)}* · {summary.count} open · {format_money(summary.amount)}"
                                                         f" · weighted {format_money(summary.weighted_amount)}")})
        in_stage = [o for o in shown if o.stage_id == stage.id]
        for opp in in_stage:
            blocks.append({"type": "section", "text": mrkdwn(opportunity_line(opp, now, follow_ups.get(opp.id))),
                           "accessory": {"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open"), "value": str(opp.id)}})
        hidden = summary.count - len(in_stage)
        if hidden > 0:
            blocks.append({"type": "context", "elements": [mrkdwn(f"…and {hidden} more in {escape(stage.name)}: `/opp list {escape(clip(stage.name, 40))}`")]})
    return {"type": "home", "blocks": blocks}


def home_page_view(page: HomePage, stages: StageModel) -> dict:
    return home_view(page.owner_id, page.pipeline, page.items, page.total, stages, page.now, rates=page.rates, due=page.due, follow_ups=page.follow_ups,
                     my_stalled=page.my_stalled, team=page.team)
