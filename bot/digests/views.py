"""The manager digest and its Full report modal."""

from __future__ import annotations

from bot.deals.views import stalled_why
from bot.domain.money import sum_money
from bot.domain.stages import staged_name
from bot.domain.values import (
    N_,
    Pipeline,
    Pipelines,
)
from bot.i18n import Translator
from bot.slack.blocks import (
    FIELD_TEXT,
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    SECTION_TEXT,
    VIEW_BLOCKS,
    VIEW_TITLE,
    clip,
    escape,
    mrkdwn,
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

# the headings of "What changed", a whole phrase each (the count inside)
CHANGE_HEADINGS = {"New": N_("*New ({n})*"), "Advanced": N_("*Advanced ({n})*"), "Moved back": N_("*Moved back ({n})*"),
                   "Won": N_("*Won ({n})*"), "Lost": N_("*Lost ({n})*"), "Reopened": N_("*Reopened ({n})*")}


def _deal(number: int, name: str, owner_id: str) -> str:
    return f"*OPP-{number}* {escape(clip(name, 60))} (<@{owner_id}>)"


def _more(total: int, shown: int, t: Translator) -> str:
    return "\n" + t("…and {n} more", n=t.number(total - shown)) if total > shown else ""


def _stage_counts(counts, stages: Pipeline, room: int = REP_COUNTS_ROOM, *, t: Translator) -> str:
    """Deals entering each stage, "Prospect 12 · Qualify 8": whole stage names, as many as fit in `room`
    characters, then how many stages were left out ("· 2 more stages")."""
    items = [f"{escape(stages.name_of(s.stage_id))} {t.number(s.entered)}" for s in counts]
    shown: list[str] = []
    used = 0
    for item in items:
        if shown and used + len(item) > room:
            break
        shown.append(item)
        used += len(item) + 3
    left = len(items) - len(shown)
    return " · ".join(shown + ([t.plural("{n} more stage", "{n} more stages", left)] if left else []))


def rep_pace(rep, stages: Pipeline, *, t: Translator) -> str:
    """Where a rep's deals take longest against the team, as a manager would say it."""
    if rep.stall_stage_id is not None and rep.stall_ratio is not None and rep.stall_ratio >= 1.05:
        ratio = format(rep.stall_ratio, ".1f")
        return t("deals stay {ratio}× the team's time in *{stage}*", ratio=ratio, stage=escape(stages.name_of(rep.stall_stage_id)))
    if any(s.finished_avg_days is not None for s in rep.stages):
        return t("keeps the team's pace in every stage")
    return t("no finished stage to compare with the team yet")


def reps_side_by_side(funnels, stages: Pipeline, limit: int, *, t: Translator) -> str:
    """The reps compared, a line each: where their deals stay longer than the team's, and the deals entering
    each stage. Stage names are never cut: when the section's 3000 characters run short, whole stages
    (within a line) and then whole reps are left out, and counted."""
    reps = [r for r in funnels.reps if r.owner_id]
    lines = [t("*Reps side by side*"), t("_Deals entering each stage_ — the team: {counts}", counts=_stage_counts(funnels.team.stages, stages, t=t))]
    room = SECTION_TEXT - len("\n" + t.plural("…and {n} more rep", "…and {n} more reps", 99_999))
    used = sum(len(line) + 1 for line in lines)
    shown = 0
    for rep in reps[:limit]:
        line = t("• <@{user}>: {pace}; entered {counts}", user=rep.owner_id, pace=rep_pace(rep, stages, t=t),
                 counts=_stage_counts(rep.stages, stages, t=t))
        if used + len(line) + 1 > room:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    if shown < len(reps):
        lines.append(t.plural("…and {n} more rep", "…and {n} more reps", len(reps) - shown))
    return "\n".join(lines)


def average_cycle(cycle, *, t: Translator) -> str:
    """ "12.5 d over 3 won deals", or "no won deals yet" when there is nothing to average."""
    if not cycle.count or cycle.avg_days is None:
        return t("no won deals yet")
    return t.plural("{days} over {n} won deal", "{days} over {n} won deals", cycle.count, days=t.days(cycle.avg_days))


def _deals(n: int, t: Translator) -> str:
    return t.plural("{n} deal", "{n} deals", n)


def _as_pipelines(stages: Pipeline | Pipelines) -> Pipelines:
    return stages if isinstance(stages, Pipelines) else Pipelines((stages,))


# A section's parts by how late they go when a digest of several pipelines outgrows Slack's blocks: the
# same parts in every section, the reps first, then the expected closes, the rates, the stalled deals.
_ESSENTIAL, _STALLED, _RATES, _CLOSES, _REPS = 0, 1, 2, 3, 4
_PART_NAMES = {_STALLED: N_("stalled deals"), _RATES: N_("rates"), _CLOSES: N_("expected closes"), _REPS: N_("reps side by side")}


def _section_blocks(section, pipeline: Pipeline, data, *, title: bool, follow_ups: list[dict], top: int, full: bool,
                    t: Translator) -> list[tuple[int, dict]]:
    """One pipeline's part of the digest, each block with its part (see _ESSENTIAL…_REPS)."""
    stages = pipeline
    rates = data.rates
    this_month, next_month, rate = section.closes_this_month, section.closes_next_month, section.win_rate
    total_count = sum(row.count for row in section.pipeline)
    total_amount = sum_money((row.amount for row in section.pipeline), rates.base)
    total_weighted = sum_money((row.weighted_amount for row in section.pipeline), rates.base)
    out: list[tuple[int, dict]] = []
    if title:
        out.append((_ESSENTIAL, {"type": "header", "text": plain(t("{pipeline} pipeline", pipeline=pipeline.name), HEADER_TEXT)}))

    # pipeline by stage
    fields = [t("*{stage}*\n{deals} · {amount} · weighted {weighted}", stage=escape(stages.name_of(row.stage_id)), deals=_deals(row.count, t),
                amount=t.money(row.amount), weighted=t.money(row.weighted_amount))
              for row in section.pipeline]
    summary = t("*Open pipeline:* {deals} · {amount} · weighted {weighted}", deals=_deals(total_count, t), amount=t.money(total_amount),
                weighted=t.money(total_weighted))
    out.append((_ESSENTIAL, {"type": "section", "text": mrkdwn(summary)}))
    for start in range(0, len(fields), 10):
        out.append((_ESSENTIAL, {"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields[start:start + 10]]}))

    # what changed
    changes = section.changes
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
                detail = f" — {t.amount(deal.amount, deal.currency)}"
            items.append(f"• {_deal(deal.number, deal.name, deal.owner_id)}{detail}")
        lines.append(t(CHANGE_HEADINGS[label], n=t.number(changed.total)) + "\n" + "\n".join(items) + _more(changed.total, len(items), t))
    out.append((_ESSENTIAL, {"type": "divider"}))
    out.append((_ESSENTIAL, {"type": "section", "text": mrkdwn(clip(t("*What changed*") + "\n" + ("\n".join(lines) if lines else t("Nothing since the last digest.")),
                                                                    SECTION_TEXT))}))
    out.extend((_ESSENTIAL, block) for block in follow_ups)  # one pipeline: the team-wide lines where they always were

    # stalled
    stalled = section.stalled
    if stalled.total:
        items = []
        for deal in stalled.deals[:top]:
            items.append(f"• {_deal(deal.number, deal.name, deal.owner_id)} · {stalled_why(deal, stages, t=t)}")
        out.append((_STALLED, {"type": "section", "text": mrkdwn(clip(t("*Stalled ({n})*", n=t.number(stalled.total)) + "\n" + "\n".join(items)
                                                                      + _more(stalled.total, len(items), t), SECTION_TEXT))}))
    else:
        out.append((_STALLED, {"type": "section", "text": mrkdwn(t("*Stalled:* none."))}))

    # rates
    # the funnel's steps (the last into Won), then the lost deals: outcomes, not a stage after Won
    conversion = " · ".join(t("{stage} → {next} {rate} ({converted} of {reached})", stage=escape(stages.name_of(s.stage_id)),
                              next=escape(stages.name_of(s.next_stage_id)) if s.next_stage_id else t("Won"), rate=t.percent(s.rate),
                              converted=t.number(s.converted), reached=t.number(s.reached))
                            for s in section.funnel.steps)
    if conversion:
        conversion += " · " + t("Lost: {n}", n=t.number(section.funnel.lost))
    dwell = " · ".join(f"{escape(stages.name_of(d.stage_id))} {t.days(d.avg_days)}" for d in section.dwell)
    # every close to Lost counted with the reason the history kept for it (a deal lost twice counts twice)
    lost_reasons = section.lost_reasons
    why_lost = " · ".join(f"{escape(clip(r.reason, 60)) if r.reason is not None else t('_no reason recorded_')} ×{t.number(r.count)}"
                          for r in lost_reasons[:top])
    if len(lost_reasons) > top:
        why_lost += " · " + t("…and {n} more", n=t.number(len(lost_reasons) - top))
    days = WIN_RATE_WINDOW.days
    out.append((_RATES, {"type": "divider"}))
    out.append((_RATES, {"type": "section", "text": mrkdwn(clip("\n".join([
        t("*Win rate, last {days} days:* {rate} by count ({won} won, {lost} lost) · {amount_rate} by amount ({won_amount} won)",
          days=days, rate=t.percent(rate.rate_by_count), won=t.number(rate.won_count), lost=t.number(rate.lost_count),
          amount_rate=t.percent(rate.rate_by_amount), won_amount=t.money(rate.won_amount)),
        t("*Why deals were lost, last {days} days:* {reasons}", days=days, reasons=why_lost or "—"),
        t("*Average cycle:* {cycle}", cycle=average_cycle(section.cycle, t=t)),
        t("*Stage-to-stage conversion:* {conversion}", conversion=conversion or "—"),
        t("*Average days in stage:* {dwell}", dwell=dwell or "—")]), SECTION_TEXT))}))

    # reps side by side
    if any(r.owner_id for r in section.reps.reps):
        out.append((_REPS, {"type": "section", "text": mrkdwn(reps_side_by_side(section.reps, stages, DIGEST_FULL_TOP if full else DIGEST_REPS, t=t))}))

    # expected closes
    out.append((_CLOSES, {"type": "section", "fields": [
        mrkdwn(t("*Expected to close this month*\n{deals} · {amount} (weighted {weighted})", deals=_deals(this_month.count, t),
                 amount=t.money(this_month.amount), weighted=t.money(this_month.weighted_amount))),
        mrkdwn(t("*Next month*\n{deals} · {amount} (weighted {weighted})", deals=_deals(next_month.count, t),
                 amount=t.money(next_month.amount), weighted=t.money(next_month.weighted_amount))),
    ]}))
    return out


def _follow_up_blocks(data, pipelines: Pipelines, top: int, *, heading: bool, t: Translator) -> list[dict]:
    """The team-wide lines, which have no stages: overdue follow-ups and open deals without one (every pipeline)."""
    overdue = sorted(data.overdue, key=lambda o: -o.count)
    follow = [t.plural("• <@{user}>: {n} overdue follow-up, the oldest due {due}", "• <@{user}>: {n} overdue follow-ups, the oldest due {due}", o.count,
                       user=o.assignee_id, due=slack_date(o.oldest_due_at, "{date_short}"))
              for o in overdue[:top]]
    text = t("*Overdue follow-ups*") + "\n" + ("\n".join(follow) + _more(len(overdue), len(follow), t) if follow else t("None. :tada:"))
    without = data.without_follow_up
    if without.total:
        def stage_of(stage_id: int) -> str:  # with several pipelines, the stage with its pipeline ("Renewals › Negotiation")
            stage = pipelines.by_id(stage_id)
            return staged_name(pipelines.of_stage(stage_id), stage) if pipelines.several and stage is not None else pipelines.name_of(stage_id)

        deals = "\n".join(f"• {_deal(d.number, d.name, d.owner_id)} · {escape(stage_of(d.stage_id))}" for d in without.deals[:top])
        text += ("\n" + t("*Open deals with no follow-up planned ({n})*", n=t.number(without.total))
                 + f"\n{deals}{_more(without.total, min(top, len(without.deals)), t)}")
    blocks: list[dict] = []
    if heading:
        blocks += [{"type": "divider"}, {"type": "header", "text": plain(t("Every pipeline"), HEADER_TEXT)}]
    return blocks + [{"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT))}]


def digest_message(data, stages: Pipeline | Pipelines, *, full: bool = False, t: Translator) -> tuple[str, list[dict]]:
    """The manager digest: per pipeline its open pipeline, changes, stalled deals, rates, reps and expected closes
    (the pipeline's name as the section's title when the workspace has several); the follow-ups once.

    Lists are cut to the top entries with "…and N more", so the message stays within Slack's limits
    whatever the team's size; `full` (the modal behind "Full report") shows longer lists. A digest of several
    pipelines that would outgrow the message's blocks leaves out the same lower parts of every section (the reps,
    then the expected closes, the rates, the stalled deals), each section saying what was cut; past that the
    last sections go, named.
    """
    pipelines = _as_pipelines(stages)
    top = DIGEST_FULL_TOP if full else DIGEST_TOP
    limit = VIEW_BLOCKS if full else MESSAGE_BLOCKS
    rates = data.rates
    team = data.team
    several = len(data.sections) > 1 or pipelines.several
    section_pipelines = [pipelines.of_team(section.pipeline_id) for section in data.sections]
    # the currencies every total of the digest involves, said once at the top
    totals = [m for section in data.sections for m in (
        sum_money((row.amount for row in section.pipeline), rates.base), section.closes_this_month.amount, section.closes_next_month.amount,
        section.win_rate.won_amount, section.win_rate.lost_amount)]
    note = rates_note(rates, totals, t)
    context = t("Changes since {since} · as of {now} · amounts in {currency}", since=slack_date(data.since), now=slack_date(data.now), currency=rates.base)
    head: list[dict] = [
        {"type": "header", "text": plain(t("{team} · pipeline digest", team=team.name), HEADER_TEXT)},
        {"type": "context", "elements": [mrkdwn(context + (f" · {note}" if note else ""))]},
    ]
    follow_ups = _follow_up_blocks(data, pipelines, top, heading=len(data.sections) > 1, t=t)
    parts = [_section_blocks(section, pipeline, data, title=several, follow_ups=follow_ups if len(data.sections) == 1 else [],
                             top=top, full=full, t=t)
             for section, pipeline in zip(data.sections, section_pipelines)]
    tail: list[dict] = [] if len(data.sections) == 1 else list(follow_ups)
    if not full:
        tail.append({"type": "actions", "elements": [
            {"type": "button", "action_id": DIGEST_FULL_BUTTON, "text": plain(t("Full report")), "value": str(team.id)}]})

    def fit(kept_parts: list[list[tuple[int, dict]]], below: int | None) -> list[list[dict]]:
        """Each section's blocks with the parts from `below` on left out, and a line saying what was."""
        sections = []
        for blocks in kept_parts:
            kept = [block for part, block in blocks if below is None or part < below]
            cut = sorted({part for part, _ in blocks if below is not None and part >= below})
            if cut:
                kept.append({"type": "context", "elements": [mrkdwn(t("…left out to fit: {parts}.", parts=", ".join(t(_PART_NAMES[p]) for p in cut))
                                                                    + ("" if full else " " + t("*Full report* has them.")))]})
            sections.append(kept)
        return sections

    room = limit - len(head) - len(tail)
    chosen: list[list[dict]] = []
    for below in (None, _REPS, _CLOSES, _RATES, _STALLED):
        chosen = fit(parts, below)
        if sum(len(blocks) for blocks in chosen) <= room:
            break
    else:  # still too many: the last sections go whole, named
        while len(chosen) > 1 and sum(len(blocks) for blocks in chosen) + 1 > room:
            chosen.pop()
        left = section_pipelines[len(chosen):]
        chosen.append([{"type": "context", "elements": [mrkdwn(t.plural(
            "…and {n} more pipeline: {names}", "…and {n} more pipelines: {names}", len(left), names=", ".join(escape(p.name) for p in left)))]}])
    out = head + [block for blocks in chosen for block in blocks] + tail

    own = data.sections[0]
    total_count = sum(row.count for row in own.pipeline)
    total_amount = sum_money((row.amount for row in own.pipeline), rates.base)
    if several:
        text = t.plural("{team} pipeline digest: {n} open deal in {pipeline}, {amount}", "{team} pipeline digest: {n} open deals in {pipeline}, {amount}",
                        total_count, team=team.name, pipeline=section_pipelines[0].name, amount=t.money(total_amount))
    else:
        text = t.plural("{team} pipeline digest: {n} open deal, {amount}", "{team} pipeline digest: {n} open deals, {amount}", total_count,
                        team=team.name, amount=t.money(total_amount))
    return text, out[:limit]


def digest_modal(data, stages: Pipeline | Pipelines, *, t: Translator) -> dict:
    """The Full report: the digest with longer lists, a section per pipeline as the message has."""
    _, content = digest_message(data, stages, full=True, t=t)
    return {"type": "modal", "title": plain(clip(t("{team} report", team=data.team.name), VIEW_TITLE)), "close": plain(t("Close")), "blocks": content}
