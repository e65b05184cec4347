"""Validating the Add follow-up modal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from bot.deals.forms import _USER, _text
from bot.domain.timezones import zone
from bot.domain.when import next_local, next_weekday
from bot.i18n import Translator

FOLLOW_UP_TEXT_MAX = 500


@dataclass(frozen=True)
class FollowUpDraft:
    text: str
    due_at: datetime
    assignee_id: str


def validate_follow_up(values: Mapping[str, object], now: datetime, tz_name: str, *, t: Translator) -> tuple[FollowUpDraft | None, dict[str, str]]:
    """The "Add follow-up" modal: a task, a moment (quick choice, or date + time in the user's zone), an assignee."""
    errors: dict[str, str] = {}
    text = " ".join(_text(values, "what").split())
    if not text:
        errors["what"] = t("Say what to do, e.g. “call the buyer back”.")
    elif len(text) > FOLLOW_UP_TEXT_MAX:
        errors["what"] = t("Too long: {length} characters, at most {most}.", length=len(text), most=FOLLOW_UP_TEXT_MAX)
    tz = zone(tz_name)
    due_at = None
    quick = _text(values, "quick")
    if quick:
        if quick == "tomorrow":
            due_at = next_local(now, tz_name, days=1)
        elif quick == "3d":
            due_at = now + timedelta(days=3)
        elif quick == "monday":
            due_at = next_weekday(now, tz_name, 0)
        else:
            errors["quick"] = t("Pick one of the choices.")
    else:
        raw_date, raw_time = _text(values, "date"), _text(values, "time") or "09:00"
        if not raw_date:
            errors["date"] = t("Pick a date, or one of the quick choices above.")
        else:
            try:
                day = date.fromisoformat(raw_date)
            except ValueError:
                errors["date"] = t("That is not a date.")
                day = None
            match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", raw_time)
            if not match:
                errors["time"] = t("That is not a time of day (HH:MM).")
            elif day is not None:
                due_at = datetime.combine(day, time(int(match.group(1)), int(match.group(2))), tz).astimezone(timezone.utc)
                if due_at <= now:
                    errors["date"] = t("That moment is in the past; pick a later date or time.")
                    due_at = None
                elif due_at > now + timedelta(days=3 * 366):
                    errors["date"] = t("That is more than three years away.")
                    due_at = None
    assignee = _text(values, "assignee")
    if not _USER.match(assignee):
        errors["assignee"] = t("Pick who should do it.")
    if errors or due_at is None:
        return None, errors
    return FollowUpDraft(text=text, due_at=due_at, assignee_id=assignee), {}
