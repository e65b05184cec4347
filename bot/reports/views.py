"""`/opp funnel` (its text and chart) and `/opp report`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.deals.views import _chunk_lines
from bot.domain.money import Rates, sum_money
from bot.domain.values import StageModel
from bot.domain.words import count
from bot.reports.charts import funnel_title
from bot.reports.service import FunnelFigures, Report
from bot.slack.blocks import SECTION_TEXT, _days, escape, format_money, mrkdwn, percent, rates_note
from storage.analytics import BY_REASON, WIN_RATE_WINDOW, LostReason


def report_outcomes(row) -> str:
    """A report row's closes in the period: "won 1 of 2 closed (50%), CNY 9,000 · cycle 12.0 d", or that there were none."""
    closed = row.won_count + row.lost_count
    if not closed:
        return "none closed"
    rate = f"won {row.won_count} of {closed} closed ({percent(row.win_rate)})"
    return f"{rate}, {format_money(row.won_amount)} · cycle {_days(row.avg_cycle_days)}" if row.won_count and row.avg_cycle_days is not None else f"{rate} · no wins"


def report_message(dimension: str, period_label: str, who: str, rows, rates: Rates) -> tuple[str, list[dict]]:
    title = f"Report by {dimension}, {period_label} ({who})"
    if not rows:
        return title, [{"type": "section", "text": mrkdwn(f"*{escape(title)}*\nNo deals were created or closed in this period.")}]
    lines = []
    for row in rows[:40]:
        key = f"<@{row.key}>" if dimension == "rep" and re.fullmatch(r"[UW][A-Z0-9]+", row.key) else escape(row.key)
        created = (f"{count(row.count, 'deal', 'deals')} created · {format_money(row.amount)} · weighted open {format_money(row.weighted_open_amount)}"
                   if row.count else "no deals created")
        lines.append(f"*{key}* · {created} · {report_outcomes(row)}")
    chunks = _chunk_lines(lines, SECTION_TEXT)
    note = rates_note(rates, [m for row in rows[:40] for m in (row.amount, row.weighted_open_amount, row.won_amount)])
    heading = f"*{escape(title)}*\n_Deals created in the period, and deals won or lost in it._" + (f"\n_{note}_" if note else "")
    message = [{"type": "section", "text": mrkdwn(heading)}] + [{"type": "section", "text": mrkdwn(c)} for c in chunks[:45]]
    if len(rows) > 40:
        message.append({"type": "context", "elements": [mrkdwn(f"…and {len(rows) - 40} more groups; `/opp export` has every deal.")]})
    return title, message


def funnel_message(figures: FunnelFigures, stages: StageModel) -> tuple[str, list[dict]]:
    """`/opp funnel`: conversion step by step (the last into Won), the lost deals, what is open, the win rate."""
    lines = [f"*{funnel_title(figures.who)}*"]
    for step in figures.funnel.steps:
        target = stages.name_of(step.next_stage_id) if step.next_stage_id else "Won"
        lines.append(f"{escape(stages.name_of(step.stage_id))} → {escape(target)}: {step.converted} of {step.reached} ({percent(step.rate)})")
    lines.append(f"Lost: {figures.funnel.lost}")
    open_count = sum(p.count for p in figures.pipeline)
    open_amount = sum_money((p.amount for p in figures.pipeline), figures.rates.base)
    open_weighted = sum_money((p.weighted_amount for p in figures.pipeline), figures.rates.base)
    rate = figures.win_rate
    lines.append(f"Open now: {count(open_count, 'deal', 'deals')} · {format_money(open_amount)} · weighted {format_money(open_weighted)}")
    lines.append(f"Win rate, last {WIN_RATE_WINDOW.days} days: {percent(rate.rate_by_count)} by count ({rate.won_count} won, {rate.lost_count} lost), "
                 f"{percent(rate.rate_by_amount)} by amount ({format_money(rate.won_amount)} won)")
    if note := rates_note(figures.rates, [open_amount, rate.won_amount, rate.lost_amount]):
        lines.append(f"_{note}_")
    text = "\n".join(lines)
    return text, [{"type": "section", "text": mrkdwn(text)},
                  {"type": "context", "elements": [mrkdwn("The funnel chart is in your DM with oppbot.")]}]


def report_view(report: Report) -> tuple[str, list[dict]]:
    if report.dimension == BY_REASON:
        return lost_reasons_message(report.period_label, report.who, report.lost_reasons)
    return report_message(report.dimension, report.period_label, report.who, report.rows, report.rates)


def lost_reasons_message(period_label: str, who: str, reasons: Sequence[LostReason]) -> tuple[str, list[dict]]:
    """`/opp report by reason`: each close to Lost in the period once, with the reason kept with it in the history."""
    title = f"Why deals were lost, {period_label} ({who})"
    total = sum(r.count for r in reasons)
    if not total:
        return title, [{"type": "section", "text": mrkdwn(f"*{escape(title)}*\nNo deal was lost in this period.")}]
    lines = [f"*{escape(r.reason) if r.reason is not None else '_no reason recorded_'}* · {count(r.count, 'loss', 'losses')} ({percent(r.count / total)})"
             for r in reasons[:40]]
    if len(reasons) > 40:
        lines.append(f"…and {len(reasons) - 40} more reasons")
    heading = f"*{escape(title)}*\n_{count(total, 'loss', 'losses')}; a deal lost, reopened and lost again counts once per loss._"
    return title, [{"type": "section", "text": mrkdwn(heading)}] + [{"type": "section", "text": mrkdwn(c)} for c in _chunk_lines(lines, SECTION_TEXT)[:45]]
