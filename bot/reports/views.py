"""`/opp funnel` (its text and chart) and `/opp report`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.deals.views import _chunk_lines
from bot.domain.money import Rates, sum_money
from bot.domain.values import N_, TAG_CHOICES, Pipeline
from bot.i18n import ENGLISH, Translator
from bot.reports.charts import funnel_title, who_text
from bot.reports.service import FunnelFigures, Report
from bot.slack.blocks import SECTION_TEXT, escape, mrkdwn, rates_note
from storage.analytics import BY_REASON, WIN_RATE_WINDOW, LostReason
from storage.analytics.report import NONE_LABEL

# `/opp report by …`: each dimension's title, a whole phrase each
REPORT_TITLES = {
    "industry": N_("Report by industry, {period} ({who})"), "region": N_("Report by region, {period} ({who})"),
    "size": N_("Report by size, {period} ({who})"), "tag": N_("Report by tag, {period} ({who})"),
    "month": N_("Report by month, {period} ({who})"), "rep": N_("Report by rep, {period} ({who})"),
}
# periods.parse_period's labels of the named periods
NAMED_PERIODS = {
    "today": N_("today"), "this week": N_("this week"), "last week": N_("last week"), "this month": N_("this month"),
    "last month": N_("last month"), "this quarter": N_("this quarter"), "last quarter": N_("last quarter"),
    "this year": N_("this year"), "last year": N_("last year"),
}


def period_text(label: str, t: Translator) -> str:
    """A period's label (periods.Period.label: "this month", "last 90 days", "2026", "2026-11", "2026-Q3") in t's language."""
    if label in NAMED_PERIODS:
        return t(NAMED_PERIODS[label])
    if match := re.fullmatch(r"last ([\d,]+) days?", label):
        return t.plural("last {n} day", "last {n} days", int(match.group(1).replace(",", "")))
    if match := re.fullmatch(r"(\d{4})-Q([1-4])", label):
        return t("{year}-Q{quarter}", year=match.group(1), quarter=match.group(2))
    if match := re.fullmatch(r"(\d{4})-(\d{2})", label):
        return t("{year}-{month}", year=match.group(1), month=match.group(2))
    if re.fullmatch(r"\d{4}", label):
        return t("{year}", year=label)
    return label


# the tag columns as a report by tag names them ("reach: strategic")
TAG_NAMES = {"found": N_("How it was found"), "reach": N_("Reach"), "visibility": N_("Visibility"), "change_kind": N_("Change that created it")}


def report_key(dimension: str, key: str, t: Translator) -> str:
    """A report row's group in t's language (mrkdwn-escaped): a month as the reader writes it, "(none)", a tag's
    column and label ("reach: strategic" · "影响范围：战略"); a person's mention, an industry or a region as it is.
    English keeps the key as stored."""
    if dimension == "rep" and re.fullmatch(r"[UW][A-Z0-9]+", key):
        return f"<@{key}>"
    if t.language == ENGLISH:
        return escape(key)
    if key == NONE_LABEL:
        return t("(none)")
    if dimension == "month":
        return escape(period_text(key, t))
    if dimension == "tag" and ": " in key:
        column, value = key.split(": ", 1)
        if column in TAG_CHOICES:
            label = TAG_CHOICES[column].get(value)
            shown = t("(none)") if value == NONE_LABEL else t(label) if label else value
            return escape(t("{tag}: {value}", tag=t(TAG_NAMES[column]), value=shown))
    return escape(key)


def report_outcomes(row, *, t: Translator) -> str:
    """A report row's closes in the period: "won 1 of 2 closed (50%), CNY 9,000 · cycle 12.0 d", or that there were none."""
    closed = row.won_count + row.lost_count
    if not closed:
        return t("none closed")
    values = dict(won=t.number(row.won_count), closed=t.number(closed), rate=t.percent(row.win_rate))
    if row.won_count and row.avg_cycle_days is not None:
        return t("won {won} of {closed} closed ({rate}), {amount} · cycle {days}", amount=t.money(row.won_amount), days=t.days(row.avg_cycle_days),
                 **values)
    return t("won {won} of {closed} closed ({rate}) · no wins", **values)


def report_message(dimension: str, period_label: str, who: str, rows, rates: Rates, *, t: Translator) -> tuple[str, list[dict]]:
    title = t(REPORT_TITLES[dimension], period=period_text(period_label, t), who=who_text(who, t)) if dimension in REPORT_TITLES else \
        t("Report by {dimension}, {period} ({who})", dimension=dimension, period=period_text(period_label, t), who=who_text(who, t))
    if not rows:
        return title, [{"type": "section", "text": mrkdwn(f"*{escape(title)}*\n" + t("No deals were created or closed in this period."))}]
    lines = []
    for row in rows[:40]:
        key = report_key(dimension, row.key, t)
        if row.count:
            created = t.plural("{n} deal created · {amount} · weighted open {weighted}", "{n} deals created · {amount} · weighted open {weighted}",
                               row.count, amount=t.money(row.amount), weighted=t.money(row.weighted_open_amount))
        else:
            created = t("no deals created")
        lines.append(f"*{key}* · {created} · {report_outcomes(row, t=t)}")
    chunks = _chunk_lines(lines, SECTION_TEXT)
    note = rates_note(rates, [m for row in rows[:40] for m in (row.amount, row.weighted_open_amount, row.won_amount)], t)
    heading = f"*{escape(title)}*\n_" + t("Deals created in the period, and deals won or lost in it.") + "_" + (f"\n_{note}_" if note else "")
    message = [{"type": "section", "text": mrkdwn(heading)}] + [{"type": "section", "text": mrkdwn(c)} for c in chunks[:45]]
    if len(rows) > 40:
        message.append({"type": "context", "elements": [mrkdwn(t("…and {n} more groups; `/opp export` has every deal.", n=t.number(len(rows) - 40)))]})
    return title, message


def funnel_message(figures: FunnelFigures, stages: Pipeline | None = None, *, t: Translator) -> tuple[str, list[dict]]:
    """`/opp funnel`: conversion step by step (the last into Won), the lost deals, what is open, the win rate; of one
    pipeline (`figures.of`), named when the workspace has several."""
    stages = figures.of or stages
    assert stages is not None, "the funnel's pipeline"
    title = funnel_title(figures.who, t=t)
    if figures.named:
        title = t("{title} · {pipeline} pipeline", title=title, pipeline=escape(stages.name))
    lines = [f"*{title}*"]
    for step in figures.funnel.steps:
        target = stages.name_of(step.next_stage_id) if step.next_stage_id else t("Won")
        lines.append(t("{stage} → {next}: {converted} of {reached} ({rate})", stage=escape(stages.name_of(step.stage_id)), next=escape(target),
                       converted=t.number(step.converted), reached=t.number(step.reached), rate=t.percent(step.rate)))
    lines.append(t("Lost: {n}", n=t.number(figures.funnel.lost)))
    open_count = sum(p.count for p in figures.pipeline)
    open_amount = sum_money((p.amount for p in figures.pipeline), figures.rates.base)
    open_weighted = sum_money((p.weighted_amount for p in figures.pipeline), figures.rates.base)
    rate = figures.win_rate
    lines.append(t.plural("Open now: {n} deal · {amount} · weighted {weighted}", "Open now: {n} deals · {amount} · weighted {weighted}", open_count,
                          amount=t.money(open_amount), weighted=t.money(open_weighted)))
    lines.append(t("Win rate, last {days} days: {rate} by count ({won} won, {lost} lost), {amount_rate} by amount ({won_amount} won)",
                   days=WIN_RATE_WINDOW.days, rate=t.percent(rate.rate_by_count), won=t.number(rate.won_count), lost=t.number(rate.lost_count),
                   amount_rate=t.percent(rate.rate_by_amount), won_amount=t.money(rate.won_amount)))
    if note := rates_note(figures.rates, [open_amount, rate.won_amount, rate.lost_amount], t):
        lines.append(f"_{note}_")
    text = "\n".join(lines)
    return text, [{"type": "section", "text": mrkdwn(text)},
                  {"type": "context", "elements": [mrkdwn(t("The funnel chart is in your DM with oppbot."))]}]


def report_view(report: Report, *, t: Translator) -> tuple[str, list[dict]]:
    if report.dimension == BY_REASON:
        title, blocks = lost_reasons_message(report.period_label, report.who, report.lost_reasons, t=t)
    else:
        title, blocks = report_message(report.dimension, report.period_label, report.who, report.rows, report.rates, t=t)
    if report.pipeline_name is not None:  # a workspace of several pipelines: say which one this is
        title = t("{title} · {pipeline} pipeline", title=title, pipeline=report.pipeline_name)
        blocks = [{"type": "context", "elements": [mrkdwn(t("In the *{pipeline}* pipeline (`pipeline:<name>` for another).",
                                                            pipeline=escape(report.pipeline_name)))]}, *blocks]
    return title, blocks


def lost_reasons_message(period_label: str, who: str, reasons: Sequence[LostReason], *, t: Translator) -> tuple[str, list[dict]]:
    """`/opp report by reason`: each close to Lost in the period once, with the reason kept with it in the history."""
    title = t("Why deals were lost, {period} ({who})", period=period_text(period_label, t), who=who_text(who, t))
    total = sum(r.count for r in reasons)
    if not total:
        return title, [{"type": "section", "text": mrkdwn(f"*{escape(title)}*\n" + t("No deal was lost in this period."))}]
    lines = [t.plural("*{reason}* · {n} loss ({share})", "*{reason}* · {n} losses ({share})", r.count,
                      reason=escape(r.reason) if r.reason is not None else t("_no reason recorded_"), share=t.percent(r.count / total))
             for r in reasons[:40]]
    if len(reasons) > 40:
        lines.append(t("…and {n} more reasons", n=t.number(len(reasons) - 40)))
    heading = f"*{escape(title)}*\n_" + t.plural("{n} loss; a deal lost, reopened and lost again counts once per loss.",
                                                   "{n} losses; a deal lost, reopened and lost again counts once per loss.", total) + "_"
    return title, [{"type": "section", "text": mrkdwn(heading)}] + [{"type": "section", "text": mrkdwn(c)} for c in _chunk_lines(lines, SECTION_TEXT)[:45]]
