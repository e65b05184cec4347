"""Reading "when" in a user's own time zone: "in 3 days", "tomorrow 9am", "friday", "2026-12-03 14:00",
and in Chinese: "明天上午9点", "下周一", "3天后", "半小时后", "周五下午", "12月3日 14:00", "今晚8点".

`parse_when(text, now, tz)` takes the longest leading run of words that reads as a moment and
returns it (aware, UTC) with the rest of the text, which is the task. Chinese has no spaces, so a
Chinese moment is read character by character and the task is what follows it ("明天上午9点回电话"
→ 回电话). The text is read after NFKC (full-width `９：００` is 9:00); the task is given back as typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from bot.domain.normalize import for_parsing, for_parsing_with_offsets
from bot.domain.timezones import zone
from bot.domain.values import N_, OppError

DEFAULT_HOUR = time(9, 0)
WEEKDAYS = {name: i for i, names in enumerate((("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"),
                                              ("thursday", "thu", "thur", "thurs"), ("friday", "fri"), ("saturday", "sat"),
                                              ("sunday", "sun"))) for name in names}
UNITS = {"minute": 60, "minutes": 60, "min": 60, "mins": 60, "hour": 3600, "hours": 3600, "h": 3600, "hr": 3600, "hrs": 3600,
         "day": 86400, "days": 86400, "d": 86400, "week": 604800, "weeks": 604800, "w": 604800}
_TIME = re.compile(r"^(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$|^(noon|midday)$", re.IGNORECASE)


class WhenError(OppError, ValueError):
    """The text does not start with a moment oppbot can read; the message explains (a catalogue entry: `text(t)`)."""


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
            raise WhenError(N_("“{when}” is not a real date."), when=words[0]) from None
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


# ----- Chinese -------------------------------------------------------------------------------------

_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:[0-9]{1,4}|[零〇一二两三四五六七八九十]{1,3})"
_ZH_UNITS = {"分钟": 60, "分": 60, "小时": 3600, "钟头": 3600, "天": 86400, "日": 86400, "周": 604800, "星期": 604800,
             "礼拜": 604800}
_ZH_IN = re.compile(rf"(?P<n>{_NUM}|半)\s*个?\s*(?P<half>半)?\s*(?P<unit>分钟|小时|钟头|星期|礼拜|分|天|日|周)\s*(?:以后|之后|后)")
_ZH_DAY = re.compile(
    rf"(?P<word>大后天|后天|明天|明日|明早|明晚|今天|今日|今早|今晚|今夜)"
    rf"|(?P<which>下个?|这个?|本)?\s*(?:周|星期|礼拜)(?P<weekday>[一二三四五六日天1-7])"
    rf"|(?:(?P<year>[0-9]{{4}})\s*年\s*)?(?P<month>{_NUM})\s*月\s*(?P<day>{_NUM})\s*[日号]"
    rf"|(?P<nth>{_NUM})\s*号"
    rf"|(?P<iso>[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})")
_ZH_PERIOD = re.compile(r"凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|夜里")
_ZH_TIME = re.compile(
    rf"(?P<hour>{_NUM})\s*(?:点钟|点|时)(?:(?P<half>半)|(?P<quarter>一刻|三刻)|(?P<minute>{_NUM})\s*分?)?"
    rf"|(?P<hh>[0-9]{{1,2}}):(?P<mm>[0-9]{{2}})(?:\s*(?P<hm_meridiem>am|pm)(?![a-z]))?"
    rf"|(?P<h12>[0-9]{{1,2}})\s*(?P<meridiem>am|pm)(?![a-z])", re.IGNORECASE)
# 上午/早上 = am, 下午/晚上/今晚 = pm, 中午 = around noon; a period without an hour is at its usual hour
_AM, _NOON, _PM = ("凌晨", "早上", "早晨", "上午", "今早", "明早"), ("中午",), ("下午", "傍晚", "晚上", "夜里", "今晚", "今夜", "明晚")
_PERIOD_HOUR = {"早上": DEFAULT_HOUR, "早晨": DEFAULT_HOUR, "上午": DEFAULT_HOUR, "今早": DEFAULT_HOUR, "明早": DEFAULT_HOUR,
                "中午": time(12, 0), "下午": time(14, 0), "傍晚": time(18, 0), "晚上": time(20, 0), "夜里": time(20, 0),
                "今晚": time(20, 0), "今夜": time(20, 0), "明晚": time(20, 0)}
_ZH_WEEKDAYS = {c: i for i, c in enumerate("一二三四五六")} | {"日": 6, "天": 6} | {str(i): i - 1 for i in range(1, 8)}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _zh_number(text: str) -> int:
    """`12`, `三`, `十`, `十二`, `二十`, `二十三` -> int."""
    if text.isdigit():
        return int(text)
    tens, ten, ones = text.partition("十")
    if not ten:
        if len(text) == 1:
            return _ZH_DIGITS[text]
    elif len(tens) <= 1 and len(ones) <= 1 and "十" not in ones:
        return (_ZH_DIGITS[tens] if tens else 1) * 10 + (_ZH_DIGITS[ones] if ones else 0)
    raise WhenError(N_("I can't read the number “{number}”."), number=text)


def _zh_clock(match: re.Match[str], period: str | None) -> tuple[time, int]:
    """The wall-clock time a time match names under a period (上午, 下午…), and days to add (晚上12点 is midnight)."""
    said = match.group(0)
    if match.group("h12"):
        at = _time_of(f"{match.group('h12')}{match.group('meridiem')}")
        if at is None:
            raise WhenError(N_("“{when}” is not a time of day."), when=said)
        return at, 0
    if match.group("hh"):
        hour, minute = int(match.group("hh")), int(match.group("mm"))
        if match.group("hm_meridiem"):
            at = _time_of(said)
            if at is None:
                raise WhenError(N_("“{when}” is not a time of day."), when=said)
            return at, 0
    else:
        hour = _zh_number(match.group("hour"))
        minute = 30 if match.group("half") else {"一刻": 15, "三刻": 45}.get(match.group("quarter") or "", 0)
        if match.group("minute"):
            minute = _zh_number(match.group("minute"))
    if minute > 59:
        raise WhenError(N_("“{when}” is not a time of day."), when=said)
    where = f"{period}{said}" if period else said
    if period in _AM:
        if hour > 12:
            raise WhenError(N_("“{when}” is not a time of day: {period} is before noon."), when=where, period=period)
        hour = 0 if hour == 12 and period == "凌晨" else hour
    elif period in _NOON:
        if hour in (1, 2, 3):
            hour += 12
        elif hour not in (11, 12, 13, 14, 15):
            raise WhenError(N_("“{when}” is not a time of day: 中午 is around noon."), when=where)
    elif period in _PM:
        if hour == 0:
            raise WhenError(N_("“{when}” is not a time of day."), when=where)
        if hour == 12 and period != "下午":
            return time(0, minute), 1  # 晚上12点: midnight, at the end of the day
        if hour < 12:
            hour += 12
    if hour > 23:
        raise WhenError(N_("“{when}” is not a time of day."), when=where)
    return time(hour, minute), 0


def _zh_date(match: re.Match[str], today: date) -> date:
    said = match.group(0)
    if word := match.group("word"):
        return today + timedelta(days={"大后天": 3, "后天": 2, "明天": 1, "明日": 1, "明早": 1, "明晚": 1}.get(word, 0))
    if weekday := match.group("weekday"):
        wanted = _ZH_WEEKDAYS[weekday]
        which = (match.group("which") or "").rstrip("个")
        monday = today - timedelta(days=today.weekday())
        if which == "下":  # 下周一: the Monday of next week, not the next Monday
            return monday + timedelta(days=7 + wanted)
        if which in ("这", "本"):  # 这周五: this week's
            return monday + timedelta(days=wanted)
        return today + timedelta(days=(wanted - today.weekday()) % 7 or 7)
    try:
        if iso := match.group("iso"):
            return date.fromisoformat(iso)
        if nth := match.group("nth"):  # 3号: the next 3rd of a month (today included)
            day, first = _zh_number(nth), today.replace(day=1)
            for ahead in range(13 if 1 <= day <= 31 else 0):
                month = first.month - 1 + ahead
                try:
                    found = date(first.year + month // 12, month % 12 + 1, day)
                except ValueError:
                    continue
                if found >= today:
                    return found
            raise ValueError
        month, day = _zh_number(match.group("month")), _zh_number(match.group("day"))
        if match.group("year"):
            return date(int(match.group("year")), month, day)
        found = date(today.year, month, day)  # 12月3日: this year's, or next year's when it has passed
        return found if found >= today else date(today.year + 1, month, day)
    except ValueError:
        raise WhenError(N_("“{when}” is not a real date."), when=said) from None


def _chinese(text: str, now_local: datetime) -> tuple[datetime, bool, str] | None:
    """A Chinese moment at the start of the text: (the moment, whether it is a time of day without a day, the rest as typed)."""
    folded, offsets = for_parsing_with_offsets(text)
    tz = now_local.tzinfo
    position, end = 0, 0

    def take(pattern: re.Pattern[str]) -> re.Match[str] | None:
        nonlocal position, end
        while position < len(folded) and folded[position].isspace():
            position += 1
        match = pattern.match(folded, position)
        if match:
            position = end = match.end()
        else:
            position = end
        return match

    day: date | None = None
    moment: datetime | None = None
    period: str | None = None
    if relative := take(_ZH_IN):
        amount = 0.5 if relative.group("n") == "半" else _zh_number(relative.group("n")) + (0.5 if relative.group("half") else 0)
        unit = _ZH_UNITS[relative.group("unit")]
        later = now_local + timedelta(seconds=amount * unit)
        if unit < 86400:
            moment = later
        else:
            day = later.date()  # 3天后上午10点: that day at a time; 3天后 alone: this time then
            moment = later
    elif found := take(_ZH_DAY):
        day = _zh_date(found, now_local.date())
        period = found.group("word") if found.group("word") in _PERIOD_HOUR else None
    if moment is None or day is not None:
        if said := take(_ZH_PERIOD):
            period = said.group(0)
        clock = take(_ZH_TIME)
        if clock is not None:
            at, extra = _zh_clock(clock, period)
            moment = datetime.combine((day or now_local.date()) + timedelta(days=extra), at, tz)
        elif period is not None:
            if period not in _PERIOD_HOUR:
                raise WhenError(N_("Say the hour with {period}, e.g. {period}5点."), period=period)
            moment = datetime.combine(day or now_local.date(), _PERIOD_HOUR[period], tz)
        elif day is not None and moment is None:
            moment = datetime.combine(day, DEFAULT_HOUR, tz)
    if moment is None or not _CJK.search(folded[:end]):
        return None  # nothing Chinese here: the English reading applies ("14:00 review")
    rest = text[offsets[end]:].lstrip(" \t\n,，、:：;；")
    return moment, relative is None and day is None, " ".join(rest.split())


def parse_when(text: str, now: datetime, tz_name: str) -> When:
    typed = text.split()
    if not typed:
        raise WhenError(N_("Say when, e.g. “in 3 days”, “tomorrow 9am”, “friday” or “2026-12-03 14:00”."))
    words = [for_parsing(word) for word in typed]
    tz = zone(tz_name)
    now_local = now.astimezone(tz)
    chinese = _chinese(" ".join(typed), now_local)
    if chinese is not None:
        moment, without_day, rest = chinese
        if without_day and moment <= now_local:
            moment += timedelta(days=1)  # 下午3点 when it is past 3pm: tomorrow's, as "3pm" is
    else:
        candidates = _candidates(words, now_local)
        if not candidates:
            if _CJK.search(text):
                raise WhenError(N_("I can't read “{when}” as a time. Try “明天上午9点”, “3天后”, “周五下午”, “下周一” or “12月3日 14:00”."),
                                when=" ".join(typed)[:20])
            raise WhenError(N_("I can't read “{when}” as a time. Try “in 3 days”, “tomorrow 9am”, “friday” or “2026-12-03 14:00”."),
                            when=" ".join(words[:3]))
        used, moment = max(candidates, key=lambda c: c[0])
        rest = " ".join(typed[used:])
    # A wall-clock time that doesn't exist (DST gap) or is ambiguous resolves like the clock on the wall would.
    moment = moment.replace(tzinfo=None).replace(tzinfo=tz)
    at = moment.astimezone(timezone.utc)
    if at <= now:
        raise WhenError(N_("{moment} ({zone}) is in the past; pick a later time."), moment=f"{moment:%Y-%m-%d %H:%M}", zone=tz_name)
    if at > now + timedelta(days=3 * 366):
        raise WhenError(N_("That is more than three years away; pick a nearer date."))
    return When(at=at, rest=rest)


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
