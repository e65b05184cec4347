"""The languages oppbot writes in, and which one a reader gets (the catalogue itself is bot/i18n)."""

from __future__ import annotations

ENGLISH, CHINESE = "en", "zh-CN"
LANGUAGES = (ENGLISH, CHINESE)


def language_of(slack_locale: str | None, fallback: str = ENGLISH) -> str:
    """The language oppbot writes in for a Slack locale ("zh-CN", "zh-TW", "en-GB", …): Chinese for any zh
    locale (Simplified is what oppbot has), English for an English one, else `fallback` (the workspace's)."""
    if slack_locale:
        code = slack_locale.replace("_", "-").lower()
        if code == "zh" or code.startswith("zh-"):
            return CHINESE
        if code == "en" or code.startswith("en-"):
            return ENGLISH
    return fallback if fallback in LANGUAGES else ENGLISH
