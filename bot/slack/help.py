"""/opp help."""

from __future__ import annotations

from bot.slack.blocks import escape, mrkdwn


def help_blocks(problem: str | None = None) -> list[dict]:
    from bot.slack.commands import HELP_LINES

    blocks = []
    if problem:
        blocks.append({"type": "section", "text": mrkdwn(f":warning: {escape(problem)}")})
    lines = "\n".join(f"`{escape(usage)}` — {escape(what)}" for usage, what in HELP_LINES)
    blocks.append({"type": "section", "text": mrkdwn(f"*oppbot: your pipeline in Slack*\n{lines}")})
    return blocks
