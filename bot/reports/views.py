"""`/opp funnel` (its text and chart) and `/opp report`."""

from __future__ import annotations

import re
from decimal import Decimal

from bot.deals.views import _chunk_lines
from bot.domain.values import StageModel
from bot.domain.words import count
from bot.reports.charts import funnel_title
from bot.reports.service import FunnelFigures, Report
from bot.slack.blocks import SECTION_TEXT, _days, escape, format_amount, mrkdwn, other_currency_note, percent
from storage.analytics import WIN_RATE_WINDOW


def report_outcomes(row) -> str:
    """A report row's closed deals: "win rate 50% (1 of 2 closed) · cycle 12.0 d", or what there is none of yet."""
    closed = row.won_count + row.lost_count
    if not closed:
        return "no closed deals yet"
    rate = f"win rate {percent(row.win_rate)} ({row.won_count} of {closed} closed)"
    return f"{rate} · cycle {_days(row.avg_cycle_days)}" if row.won_count and row.avg_cycle_days is not None else f"{rate} · no wins yet"


def report_message(dimension: str, period_label: str, who: str, rows, currency: str) -> tuple[str, list[dict]]:
    title = f"Report by {dimension}, {period_label} ({who})"
    if not rows:
        return title, [{"type": "section", "text": mrkdwn(f"*{escape(title)}*\nNo deals were created in this period.")}]
    lines = []
    for row in rows[:40]:
        key = f"<@{row.key}>" if dimension == "rep" and re.fullmatch(r"[UW][A-Z0-9]+", row.key) else escape(row.key)
        lines.append(f"*{key}* · {count(row.count, 'deal', 'deals')} · {format_amount(row.amount, currency)}"
                     f" · weighted open {format_amount(row.weighted_open_amount, currency)} · {report_outcomes(row)}")
    chunks = _chunk_lines(lines, SECTION_TEXT)
    message = [{"type": "section", "text": mrkdwn(f"*{escape(title)}*")}] + [{"type": "section", "text": mrkdwn(c)} for c in chunks[:45]]
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
    open_amount = sum((p.amount for p in figures.pipeline), start=Decimal(0))
    rate = figures.win_rate
    lines.append(f"Open now: {count(open_count, 'deal', 'deals')} · {format_amount(open_amount, figures.currency)}")
    if other := sum(p.other_currency for p in figures.pipeline):
        lines.append(f"_{other_currency_note(other)}_")
    lines.append(f"Win rate, last {WIN_RATE_WINDOW.days} days: {percent(rate.rate_by_count)} by count ({rate.won_count} won, {rate.lost_count} lost), "
                 f"{percent(rate.rate_by_amount)} by amount")
    text = "\n".join(lines)
    return text, [{"type": "section", "text": mrkdwn(text)},
                  {"type": "context", "elements": [mrkdwn("The funnel chart is in your DM with oppbot.")]}]


def report_view(report: Report) -> tuple[str, list[dict]]:
    return report_message(report.dimension, report.period_label, report.who, report.rows, report.currency)
