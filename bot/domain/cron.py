"""Digest schedules: standard 5-field cron (day of week 0/7 = Sunday, 1-5 = Monday-Friday) in a time zone.

APScheduler 3's CronTrigger counts weekdays from Monday = 0, so the day-of-week field is expanded
here into names before it is handed over.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from bot.domain.timezones import zone

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES = {name: i for i, name in enumerate(DAY_NAMES)}


def _day_number(token: str) -> int:
    token = token.lower()
    if token in _NAMES:
        return _NAMES[token]
    if re.fullmatch(r"[0-7]", token):
        return int(token) % 7
    raise ValueError(f"bad day of week {token!r}")


def _weekdays(field: str) -> list[int]:
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError("a step must be at least 1")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _day_number(a), _day_number(b)
            if b.strip() == "7":
                last = 7
        else:
            first = last = _day_number(base)
        span = range(first, last + 1, step) if last >= first else list(range(first, 7, step)) + list(range(0, last + 1, step))
        days.update(d % 7 for d in span)
    return sorted(days)


def trigger(expression: str, tz_name: str | None) -> CronTrigger:
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    days = _weekdays(weekday)
    day_of_week = "*" if len(days) == 7 else ",".join(DAY_NAMES[d] for d in days)
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week, timezone=zone(tz_name))


def last_fire_time(expression: str, tz_name: str | None, now: datetime, *, lookback: timedelta = timedelta(days=8)) -> datetime | None:
    """The latest scheduled moment at or before `now` (within `lookback`), or None."""
    cron = trigger(expression, tz_name)
    for window in (timedelta(hours=1), timedelta(days=1), lookback):
        moment = cron.get_next_fire_time(None, now - window)
        latest = None
        steps = 0
        while moment is not None and moment <= now and steps < 2000:
            latest = moment
            moment = cron.get_next_fire_time(moment, moment + timedelta(seconds=1))
            steps += 1
        if latest is not None:
            return latest
    return None
