"""Report periods as people type them: "this month", "last quarter", "last 90 days", "2026", "2026-11", "2026-Q3"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from bot.domain.normalize import for_parsing
from bot.domain.timezones import zone
from bot.domain.values import N_, OppError
from bot.domain.words import count


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    label: str


class PeriodError(OppError, ValueError):
    """A period oppbot can't read; the message is a catalogue entry (`text(t)`)."""


# Chinese names of the named periods (`/opp 报表 按行业 本月`)
_ZH_PERIODS = {"今天": "today", "本周": "this week", "这周": "this week", "上周": "last week", "本月": "this month",
               "这个月": "this month", "上月": "last month", "上个月": "last month", "本季度": "this quarter",
               "这个季度": "this quarter", "上季度": "last quarter", "上个季度": "last quarter", "今年": "this year",
               "去年": "last year"}


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_period(text: str | None, now: datetime, tz_name: str, *, default: str = "last 90 days") -> Period:
    """[start, end) in UTC, from day boundaries in the given time zone."""
    raw = " ".join(for_parsing(text or default).lower().split())
    raw = _ZH_PERIODS.get(raw.replace(" ", ""), raw)
    if match := re.fullmatch(r"(?:最近|近|过去)\s*(\d{1,4})\s*天", raw):  # 最近90天
        raw = f"last {match.group(1)} days"
    elif match := re.fullmatch(r"(\d{4})\s*年(?:\s*(\d{1,2})\s*月)?", raw):  # 2026年, 2026年11月
        raw = match.group(1) + (f"-{int(match.group(2)):02d}" if match.group(2) else "")
    tz = zone(tz_name)
    today = now.astimezone(tz).date()

    def span(first: date, after: date, label: str) -> Period:
        return Period(datetime.combine(first, time(), tz).astimezone(timezone.utc), datetime.combine(after, time(), tz).astimezone(timezone.utc), label)

    if match := re.fullmatch(r"(?:last|past) (\d{1,4}) days?", raw):
        days = int(match.group(1))
        if not 1 <= days <= 3660:
            raise PeriodError(N_("Use between 1 and 3660 days."))
        return span(today - timedelta(days=days - 1), today + timedelta(days=1), f"last {count(days, 'day', 'days')}")
    quarter_start = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    named = {
        "today": (today, today + timedelta(days=1)),
        "this week": (today - timedelta(days=today.weekday()), today - timedelta(days=today.weekday()) + timedelta(days=7)),
        "last week": (today - timedelta(days=today.weekday() + 7), today - timedelta(days=today.weekday())),
        "this month": (_month_start(today), _add_months(today, 1)),
        "last month": (_add_months(today, -1), _month_start(today)),
        "this quarter": (quarter_start, _add_months(quarter_start, 3)),
        "last quarter": (_add_months(quarter_start, -3), quarter_start),
        "this year": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "last year": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
    }
    if raw in named:
        first, after = named[raw]
        return span(first, after, raw)
    if re.fullmatch(r"\d{4}", raw) and 2000 <= int(raw) <= 2100:
        return span(date(int(raw), 1, 1), date(int(raw) + 1, 1, 1), raw)
    if match := re.fullmatch(r"(\d{4})-(\d{2})", raw):
        year, month = int(match.group(1)), int(match.group(2))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            first = date(year, month, 1)
            return span(first, _add_months(first, 1), raw)
    if match := re.fullmatch(r"(\d{4})-?q([1-4])", raw):
        year, quarter = int(match.group(1)), int(match.group(2))
        if 2000 <= year <= 2100:
            first = date(year, 3 * quarter - 2, 1)
            return span(first, _add_months(first, 3), f"{year}-Q{quarter}")
    raise PeriodError(N_("I can't read the period “{period}”. Try this month, last month, this quarter, last quarter, "
                         "this year, last 90 days, 2026, 2026-11 or 2026-Q3."), period=(text or "")[:40])
