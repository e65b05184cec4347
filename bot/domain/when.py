"""Reading "when" in a user's own time zone: "in 3 days", "tomorrow 9am", "friday", "2026-12-03 14:00".

`parse_when(text, now, tz)` takes the longest leading run of words that reads as a moment and
returns it (aware, UTC) with the rest of the text, which is the task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from bot.domain.timezones import zone

DEFAULT_HOUR = time(9, 0)
WEEKDAYS = {name: i for i, names in enumerate((("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"),
                                              ("thursday", "thu", "thur", "thurs"), ("friday", "fri"), ("saturday", "sat"),
                                              ("sunday", "sun"))) for name in names}
UNITS = {"minute": 60, "minutes": 60, "min": 60, "mins": 60, "hour": 3600, "hours": 3600, "h": 3600, "hr": 3600, "hrs": 3600,
         "day": 86400, "days": 86400, "d": 86400, "week": 604800, "weeks": 604800, "w": 604800}
_TIME = re.compile(r"^(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$|^(noon|midday)$", re.IGNORECASE)


class WhenError(ValueError):
    """The text does not start with a moment oppbot can read; the message explains."""


@dataclass(frozen=True)
class When:
    at: datetime
    rest: str


def _time_of(token: str) -> time | None:
    match = _TIME.match(token.strip())
    if not match:
        return None
    if match.group(4):
        return time(12, 0)
    hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()
    if minute > 59:
        return None
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    elif match.group(2) is None:
        return None  # a bare number is not a time ("friday 3" is ambiguous)
    if hour > 23:
        return None
    return time(hour, minute)


def _day(words: list[str], today: date) -> tuple[date, int] | None:
    """A day named by the first words, and how many words it took."""
    first = words[0].lower()
    if first == "today":
        return today, 1
    if first == "tomorrow":
        return today + timedelta(days=1), 1
    if first == "next" and len(words) > 1 and words[1].lower() in WEEKDAYS:
        ahead = (WEEKDAYS[words[1].lower()] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead), 2
    if first in WEEKDAYS:
        ahead = (WEEKDAYS[first] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead), 1
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", first):
        try:
            return date.fromisoformat(first), 1
        except ValueError:
            raise WhenError(f"“{words[0]}” is not a real date.") from None
    return None


def _candidates(words: list[str], now_local: datetime) -> list[tuple[int, datetime]]:
    found: list[tuple[int, datetime]] = []
    tz = now_local.tzinfo
    if words[0].lower() == "in" and len(words) >= 2:
        compact = re.fullmatch(r"(\d+)([a-z]+)", words[1].lower())
        if compact and compact.group(2) in UNITS:
            found.append((2, now_local + timedelta(seconds=int(compact.group(1)) * UNITS[compact.group(2)])))
        elif len(words) >= 3 and re.fullmatch(r"[0-9]{1,6}", words[1]) and words[2].lower() in UNITS:
            found.append((3, now_local + timedelta(seconds=int(words[1]) * UNITS[words[2].lower()])))
        elif len(words) >= 3 and words[1].lower() in ("a", "an", "one") and words[2].lower() in UNITS:
            found.append((3, now_local + timedelta(seconds=UNITS[words[2].lower()])))
    day = _day(words, now_local.date())
    if day is not None:
        moment_day, used = day
        found.append((used, datetime.combine(moment_day, DEFAULT_HOUR, tz)))
        for extra in (2, 1):
            if used + extra <= len(words):
                at = _time_of(" ".join(words[used:used + extra]))
                if at is not None:
                    found.append((used + extra, datetime.combine(moment_day, at, tz)))
                    break
    else:
        for extra in (2, 1):
            at = _time_of(" ".join(words[:extra])) if extra <= len(words) else None
            if at is not None:
                moment = datetime.combine(now_local.date(), at, tz)
                found.append((extra, moment if moment > now_local else moment + timedelta(days=1)))
                break
    return found


def parse_when(text: str, now: datetime, tz_name: str) -> When:
    words = text.split()
    if not words:
        raise WhenError("Say when, e.g. “in 3 days”, “tomorrow 9am”, “friday” or “2026-12-03 14:00”.")
    tz = zone(tz_name)
    now_local = now.astimezone(tz)
    candidates = _candidates(words, now_local)
    if not candidates:
        raise WhenError(f"I can't read “{' '.join(words[:3])}” as a time. Try “in 3 days”, “tomorrow 9am”, “friday” or “2026-12-03 14:00”.")
    used, moment = max(candidates, key=lambda c: c[0])
    # A wall-clock time that doesn't exist (DST gap) or is ambiguous resolves like the clock on the wall would.
    moment = moment.replace(tzinfo=None).replace(tzinfo=tz)
    at = moment.astimezone(timezone.utc)
    if at <= now:
        raise WhenError(f"{moment:%Y-%m-%d %H:%M} ({tz_name}) is in the past; pick a later time.")
    if at > now + timedelta(days=3 * 366):
        raise WhenError("That is more than three years away; pick a nearer date.")
    return When(at=at, rest=" ".join(words[used:]))


def next_local(now: datetime, tz_name: str, *, days: int, at: time = DEFAULT_HOUR) -> datetime:
    """`days` days from today at a local wall-clock time, in UTC ("tomorrow 9:00" is days=1)."""
    tz = zone(tz_name)
    local = now.astimezone(tz)
    return datetime.combine(local.date() + timedelta(days=days), at, tz).astimezone(timezone.utc)


def next_weekday(now: datetime, tz_name: str, weekday: int, at: time = DEFAULT_HOUR) -> datetime:
    tz = zone(tz_name)
    local = now.astimezone(tz)
    ahead = (weekday - local.weekday()) % 7 or 7
    return datetime.combine(local.date() + timedelta(days=ahead), at, tz).astimezone(timezone.utc)
