"""The manager digest and its Full report modal."""

from __future__ import annotations

from decimal import Decimal

from bot.domain.values import (
    StageModel,
)
from bot.slack.blocks import (
    FIELD_TEXT,
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    SECTION_TEXT,
    VIEW_BLOCKS,
    VIEW_TITLE,
    _days,
    _more,
    clip,
    escape,
    format_amount,
    mrkdwn,
    percent,
    plain,
    slack_date,
)
from bot.slack.ids import DIGEST_FULL_BUTTON
from storage.analytics import WIN_RATE_WINDOW

DIGEST_TOP = 5


DIGEST_FULL_TOP = 25


DIGEST_REPS = 10




def _deal(number: int, name: str, owner_id: str) -> str:
    return f"*OPP-{number}* {escape(clip(name, 60))} (<@{owner_id}>)"


def digest_message(data, stages: StageModel, *, full: bool = False) -> tuple[str, list[dict]]:
    """The manager digest: pipeline, changes, follow-ups, stalled deals, rates, reps, expected closes.

    Lists are cut to the top entries with "…and N more", so the message stays within Slack's limits
    whatever the team's size; `full` (the modal behind "Full report") shows longer lists.
    """
    top = DIGEST_FULL_TOP if full else DIGEST_TOP
    currency = data.currency
    team = data.team
    out: list[dict] = [
        {"type": "header", "text": plain(f"{team.name} · pipeline digest", HEADER_TEXT)},
        {"type": "context", "elements": [mrkdwn(f"Changes since {slack_date(data.since)} · as of {slack_date(data.now)} · amounts in {currency}")]},
    ]

    # pipeline by stage
    fields = []
    total_count, total_amount, total_weighted, other = 0, Decimal(0), Decimal(0), 0
    for row in data.pipeline:
        total_count += row.count
        total_amount += row.amount
        total_weighted += row.weighted_amount
        other += row.other_currency
        fields.append(f"*{escape(stages.name_of(row.stage_id))}*\n{row.count} · {format_amount(row.amount, currency)} · weighted {format_amount(row.weighted_amount, currency)}")
    summary = f"*Open pipeline:* {total_count} deals · {format_amount(total_amount, currency)} · weighted {format_amount(total_weighted, currency)}"
    if other:
        summary += f"\n_{other} deal(s) in other currencies are counted but not in the amounts._"
    out.append({"type": "section", "text": mrkdwn(summary)})
    for start in range(0, len(fields), 10):
        out.append({"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields[start:start + 10]]})

    # what changed
    changes = data.changes
    lines = []
    for label, changed in (("New", changes.new), ("Advanced", changes.advanced), ("Moved back", changes.moved_back),
                           ("Won", changes.won), ("Lost", changes.lost), ("Reopened", changes.reopened)):
        if not changed.total:
            continue
        items = []
        for deal in changed.deals[:top]:
            detail = ""
            if label in ("Advanced", "Moved back") and deal.from_stage_id is not None:
                detail = f" {escape(stages.name_of(deal.from_stage_id))} → {escape(stages.name_of(deal.to_stage_id))}"
            elif label == "Lost" and deal.lost_reason:
                detail = f" — {escape(clip(deal.lost_reason, 100))}"
            elif label == "Won":
                detail = f" — {format_amount(deal.amount, deal.currency)}"
            items.append(f"• {_deal(deal.number, deal.name, deal.owner_id)}{detail}")
        lines.append(f"*{label} ({changed.total})*\n" + "\n".join(items) + _more(changed.total, len(items)))
    out.append({"type": "divider"})
    out.append({"type": "section", "text": mrkdwn(clip("*What changed*\n" + ("\n".join(lines) if lines else "Nothing since the last digest."), SECTION_TEXT))})

    # follow-ups
    overdue = sorted(data.overdue, key=lambda o: -o.count)
    follow = [f"• <@{o.assignee_id}>: {o.count} overdue, oldest due {slack_date(o.oldest_due_at, '{date_short}')}" for o in overdue[:top]]
    text = "*Overdue follow-ups*\n" + ("\n".join(follow) + _more(len(overdue), len(follow)) if follow else "None. :tada:")
    without = data.without_follow_up
    if without.total:
        deals = "\n".join(f"• {_deal(d.number, d.name, d.owner_id)} · {escape(stages.name_of(d.stage_id))}" for d in without.deals[:top])
        text += f"\n*Open deals with no follow-up planned ({without.total})*\n{deals}{_more(without.total, min(top, len(without.deals)))}"
    out.append({"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT))})

    # stalled
    stalled = data.stalled
    if stalled.total:
        items = []
        for deal in stalled.deals[:top]:
            why = f"over the stage's {deal.max_days} days" if deal.reason == "max_days" else f"over 2× the team's median ({_days(deal.median_days)})"
            items.append(f"• {_deal(deal.number, deal.name, deal.owner_id)} · {deal.days_in_stage:.0f} d in {escape(stages.name_of(deal.stage_id))}, {why}")
        out.append({"type": "section", "text": mrkdwn(clip(f"*Stalled ({stalled.total})*\n" + "\n".join(items) + _more(stalled.total, len(items)), SECTION_TEXT))})
    else:
        out.append({"type": "section", "text": mrkdwn("*Stalled:* none.")})

    # rates
    rate = data.win_rate
    conversion = " · ".join(f"{escape(stages.name_of(s.stage_id))} → {escape(stages.name_of(s.next_stage_id)) if s.next_stage_id else 'Won'} {percent(s.rate)}"
                            for s in data.conversion)
    dwell = " · ".join(f"{escape(stages.name_of(d.stage_id))} {_days(d.avg_days)}" for d in data.dwell)
    out.append({"type": "divider"})
    out.append({"type": "section", "text": mrkdwn(clip(
        f"*Win rate, last {WIN_RATE_WINDOW.days} days:* {percent(rate.rate_by_count)} by count ({rate.won_count} won, {rate.lost_count} lost) · "
        f"{percent(rate.rate_by_amount)} by amount ({format_amount(rate.won_amount, currency)} won)\n"
        f"*Average cycle:* {_days(data.cycle.avg_days)} over {data.cycle.count} won deal(s)\n"
        f"*Stage-to-stage conversion:* {conversion or '—'}\n*Average days in stage:* {dwell or '—'}", SECTION_TEXT))})

    # reps side by side
    reps = [r for r in data.reps.reps if r.owner_id]
    if reps:
        team_line = " · ".join(str(s.entered) for s in data.reps.team.stages)
        items = [f"_Deals entering each stage ({' · '.join(escape(clip(stages.name_of(s.stage_id), 14)) for s in data.reps.team.stages)}):_ team {team_line}"]
        limit = DIGEST_FULL_TOP if full else DIGEST_REPS
        for rep in reps[:limit]:
            counts = " · ".join(str(s.entered) for s in rep.stages)
            pointer = (f"; stalls in *{escape(stages.name_of(rep.stall_stage_id))}* ({rep.stall_ratio:.1f}× the team's time)"
                       if rep.stall_stage_id is not None and rep.stall_ratio and rep.stall_ratio > 1 else "")
            items.append(f"• <@{rep.owner_id}>: {counts}{pointer}")
        out.append({"type": "section", "text": mrkdwn(clip("*Reps side by side*\n" + "\n".join(items) + _more(len(reps), min(limit, len(reps))), SECTION_TEXT))})

    # expected closes
    this_month, next_month = data.closes_this_month, data.closes_next_month
    out.append({"type": "section", "fields": [
        mrkdwn(f"*Expected to close this month*\n{this_month.count} · {format_amount(this_month.amount, currency)} (weighted {format_amount(this_month.weighted_amount, currency)})"),
        mrkdwn(f"*Next month*\n{next_month.count} · {format_amount(next_month.amount, currency)} (weighted {format_amount(next_month.weighted_amount, currency)})"),
    ]})
    if not full:
        out.append({"type": "actions", "elements": [
            {"type": "button", "action_id": DIGEST_FULL_BUTTON, "text": plain("Full report"), "value": str(team.id)}]})
    text = f"{team.name} pipeline digest: {total_count} open deals, {format_amount(total_amount, currency)}"
    return text, out[:(VIEW_BLOCKS if full else MESSAGE_BLOCKS)]


def digest_modal(data, stages: StageModel) -> dict:
    _, content = digest_message(data, stages, full=True)
    return {"type": "modal", "title": plain(clip(f"{data.team.name} report", VIEW_TITLE)), "close": plain("Close"), "blocks": content}
