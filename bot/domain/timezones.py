"""Time zone names from users and config files, read safely."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a folder of the tz database, not a zone
        return False


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    return ZoneInfo(name) if name and is_zone(name) else ZoneInfo(fallback)
