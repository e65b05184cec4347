"""The manager digest and its Full report modal."""

from __future__ import annotations

from bot.deals.views import stalled_why
from bot.domain.money import sum_money
from bot.domain.values import (
    StageModel,
)
from bot.domain.words import count
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
    format_money,
    mrkdwn,
    percent,
    plain,
    rates_note,
    slack_date,
)
from bot.slack.ids import DIGEST_FULL_BUTTON
from storage.analytics import WIN_RATE_WINDOW

DIGEST_TOP = 5


DIGEST_FULL_TOP = 25


DIGEST_REPS = 10


REP_COUNTS_ROOM = 400  # characters for one line's stage counts in "Reps side by side"




def _deal(number: int, name: str, owner_id: str) -> str:
    return f"*OPP-{number}* {escape(clip(name, 60))} (<@{owner_id}>)"


def _stage_counts(counts, stages: StageModel, room: int = REP_COUNTS_ROOM) -> str:
    """Deals entering each stage, "Prospect 12 · Qualify 8": whole stage names, as many as fit in `room`
    characters, then how many stages were left out ("· 2 more stages")."""
    items = [f"{escape(stages.name_of(s.stage_id))} {s.entered:,}" for s in counts]
    shown: list[str] = []
    used = 0
    for item in items:
        if shown and used + len(item) > room:
            break
        shown.append(item)
        used += len(item) + 3
    left = len(items) - len(shown)
    return " · ".join(shown + ([count(left, "more stage", "more stages")] if left else []))


def rep_pace(rep, stages: StageModel) -> str:
    """Where a rep's deals take longest against the team, as a manager would say it."""
    if rep.stall_stage_id is not None and rep.stall_ratio is not None and rep.stall_ratio >= 1.05:
        return f"deals stay {rep.stall_ratio:.1f}× the team's time in *{escape(stages.name_of(rep.stall_stage_id))}*"
    if any(s.finished_avg_days is not None for s in rep.stages):
        return "keeps the team's pace in every stage"
    return "no finished stage to compare with the team yet"


def reps_side_by_side(funnels, stages: StageModel, limit: int) -> str:
    """The reps compared, a line each: where their deals stay longer than the team's, and the deals entering
    each stage. Stage names are never cut: when the section's 3000 characters run short, whole stages
    (within a line) and then whole reps are left out, and counted."""
    reps = [r for r in funnels.reps if r.owner_id]
    lines = ["*Reps side by side*", f"_Deals entering each stage_ — the team: {_stage_counts(funnels.team.stages, stages)}"]
    room = SECTION_TEXT - len("\n…and 99,999 more reps")
    used = sum(len(line) + 1 for line in lines)
    shown = 0
    for rep in reps[:limit]:
        line = f"• <@{rep.owner_id}>: {rep_pace(rep, stages)}; entered {_stage_counts(rep.stages, stages)}"
        if used + len(line) + 1 > room:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    if shown < len(reps):
        lines.append(f"…and {count(len(reps) - shown, 'more rep', 'more reps')}")
    return "\n".join(lines)


def average_cycle(cycle) -> str:
    """ "12.5 d over 3 won deals", or "no won deals yet" when there is nothing to average."""
    if not cycle.count or cycle.avg_days is None:
        return "no won deals yet"
    return f"{_days(cycle.avg_days)} over {count(cycle.count, 'won deal', 'won deals')}"


def digest_message(data, stages: StageModel, *, full: bool = False) -> tuple[str, list[dict]]:
    """The manager digest: pipeline, changes, follow-ups, stalled deals, rates, reps, expected closes.

    Lists are cut to the top entries with "…and N more", so the message stays within Slack's limits
    whatever the team's size; `full` (the modal behind "Full report") shows longer lists.
    """
    top = DIGEST_FULL_TOP if full else DIGEST_TOP
    rates = data.rates
    team = data.team
    this_month, next_month, rate = data.closes_this_month, data.closes_next_month, data.win_rate
    total_count = sum(row.count for row in data.pipeline)
    total_amount = sum_money((row.amount for row in data.pipeline), rates.base)
    total_weighted = sum_money((row.weighted_amount for row in data.pipeline), rates.base)
    # the currencies every total of the digest involves, said once at the top
    note = rates_note(rates, [total_amount, this_month.amount, next_month.amount, rate.won_amount, rate.lost_amount])
    out: list[dict] = [
        {"type": "header", "text": plain(f"{team.name} · pipeline digest", HEADER_TEXT)},
        {"type": "context", "elements": [mrkdwn(f"Changes since {slack_date(data.since)} · as of {slack_date(data.now)} · amounts in {rates.base}"
                                                + (f" · {note}" if note else ""))]},
    ]

    # pipeline by stage
    fields = [f"*{escape(stages.name_of(row.stage_id))}*\n{count(row.count, 'deal', 'deals')} · {format_money(row.amount)} · weighted {format_money(row.weighted_amount)}"
              for row in data.pipeline]
    summary = f"*Open pipeline:* {count(total_count, 'deal', 'deals')} · {format_money(total_amount)} · weighted {format_money(total_weighted)}"
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
    follow = [f"• <@{o.assignee_id}>: {count(o.count, 'overdue follow-up', 'overdue follow-ups')}, the oldest due {slack_date(o.oldest_due_at, '{date_short}')}" for o in overdue[:top]]
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
            items.append(f"• {_deal(deal.number, deal.name, deal.owner_id)} · {stalled_why(deal, stages)}")
        out.append({"type": "section", "text": mrkdwn(clip(f"*Stalled ({stalled.total})*\n" + "\n".join(items) + _more(stalled.total, len(items)), SECTION_TEXT))})
    else:
        out.append({"type": "section", "text": mrkdwn("*Stalled:* none.")})

    # rates
    # the funnel's steps (the last into Won), then the lost deals: outcomes, not a stage after Won
    conversion = " · ".join(f"{escape(stages.name_of(s.stage_id))} → {escape(stages.name_of(s.next_stage_id)) if s.next_stage_id else 'Won'}"
                            f" {percent(s.rate)} ({s.converted} of {s.reached})" for s in data.funnel.steps)
    if conversion:
        conversion += f" · Lost: {data.funnel.lost}"
    dwell = " · ".join(f"{escape(stages.name_of(d.stage_id))} {_days(d.avg_days)}" for d in data.dwell)
    # every close to Lost counted with the reason the history kept for it (a deal lost twice counts twice)
    lost_reasons = data.lost_reasons
    why_lost = " · ".join(f"{escape(clip(r.reason, 60)) if r.reason is not None else '_no reason recorded_'} ×{r.count}"
                          for r in lost_reasons[:top])
    if len(lost_reasons) > top:
        why_lost += f" · …and {len(lost_reasons) - top} more"
    out.append({"type": "divider"})
    out.append({"type": "section", "text": mrkdwn(clip(
        f"*Win rate, last {WIN_RATE_WINDOW.days} days:* {percent(rate.rate_by_count)} by count ({rate.won_count} won, {rate.lost_count} lost) · "
        f"{percent(rate.rate_by_amount)} by amount ({format_money(rate.won_amount)} won)\n"
        f"*Why deals were lost, last {WIN_RATE_WINDOW.days} days:* {why_lost or '—'}\n"
        f"*Average cycle:* {average_cycle(data.cycle)}\n"
        f"*Stage-to-stage conversion:* {conversion or '—'}\n*Average days in stage:* {dwell or '—'}", SECTION_TEXT))})

    # reps side by side
    if any(r.owner_id for r in data.reps.reps):
        out.append({"type": "section", "text": mrkdwn(reps_side_by_side(data.reps, stages, DIGEST_FULL_TOP if full else DIGEST_REPS))})

    # expected closes
    out.append({"type": "section", "fields": [
        mrkdwn(f"*Expected to close this month*\n{count(this_month.count, 'deal', 'deals')} · {format_money(this_month.amount)} (weighted {format_money(this_month.weighted_amount)})"),
        mrkdwn(f"*Next month*\n{count(next_month.count, 'deal', 'deals')} · {format_money(next_month.amount)} (weighted {format_money(next_month.weighted_amount)})"),
    ]})
    if not full:
        out.append({"type": "actions", "elements": [
            {"type": "button", "action_id": DIGEST_FULL_BUTTON, "text": plain("Full report"), "value": str(team.id)}]})
    text = f"{team.name} pipeline digest: {count(total_count, 'open deal', 'open deals')}, {format_money(total_amount)}"
    return text, out[:(VIEW_BLOCKS if full else MESSAGE_BLOCKS)]


def digest_modal(data, stages: StageModel) -> dict:
    _, content = digest_message(data, stages, full=True)
    return {"type": "modal", "title": plain(clip(f"{data.team.name} report", VIEW_TITLE)), "close": plain("Close"), "blocks": content}
