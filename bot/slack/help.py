"""/opp help, in the reader's language: each subcommand's usage and what it does (the registry's, through the catalogue)."""

from __future__ import annotations

from bot.i18n import Translator
from bot.slack.blocks import escape, mrkdwn


def help_blocks(problem: str | None = None, *, t: Translator) -> list[dict]:
    from bot.slack.commands import HELP_LINES

    blocks = []
    if problem:
        blocks.append({"type": "section", "text": mrkdwn(f":warning: {escape(problem)}")})
    lines = "\n".join(f"`{escape(t(usage))}` — {escape(t(what))}" for usage, what in HELP_LINES)
    blocks.append({"type": "section", "text": mrkdwn(t("*oppbot: your pipeline in Slack*") + f"\n{lines}")})
    return blocks
