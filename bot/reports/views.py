"""/opp report."""

from __future__ import annotations

import re

from bot.deals.views import _chunk_lines
from bot.slack.blocks import SECTION_TEXT, _days, escape, format_amount, mrkdwn, percent


def report_message(dimension: str, period_label: str, who: str, rows, currency: str) -> tuple[str, list[dict]]:
    title = f"Report by {dimension}, {period_label} ({who})"
    if not rows:
        return title, [{"type": "section", "text": mrkdwn(f"*{escape(title)}*\nNo deals were created in this period.")}]
    lines = []
    for row in rows[:40]:
        key = f"<@{row.key}>" if dimension == "rep" and re.fullmatch(r"[UW][A-Z0-9]+", row.key) else escape(row.key)
        lines.append(f"*{key}* · {row.count} deals · {format_amount(row.amount, currency)} · weighted open {format_amount(row.weighted_open_amount, currency)}"
                     f" · win rate {percent(row.win_rate)} ({row.won_count}/{row.won_count + row.lost_count}) · cycle {_days(row.avg_cycle_days)}")
    chunks = _chunk_lines(lines, SECTION_TEXT)
    message = [{"type": "section", "text": mrkdwn(f"*{escape(title)}*")}] + [{"type": "section", "text": mrkdwn(c)} for c in chunks[:45]]
    if len(rows) > 40:
        message.append({"type": "context", "elements": [mrkdwn(f"…and {len(rows) - 40} more groups; `/opp export` has every deal.")]})
    return title, message
