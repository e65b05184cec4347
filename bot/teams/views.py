"""/opp team."""

from __future__ import annotations

from bot.slack.blocks import clip, escape, mrkdwn


def team_blocks(team) -> list[dict]:
    members = ", ".join(f"<@{m}>" for m in team.member_ids) or "nobody yet"
    where = f" · digest also in <#{team.channel}>" if team.channel and not team.channel.startswith("#") else (f" · digest also in {escape(team.channel)}" if team.channel else "")
    return [
        {"type": "section", "text": mrkdwn(f"*Team {escape(team.name)}*\nManager: <@{team.manager_id}>\nReps ({len(team.member_ids)}): {clip(members, 2500)}")},
        {"type": "context", "elements": [mrkdwn(f"Digest schedule `{escape(team.digest)}` ({escape(team.timezone or 'workspace time zone')}){where}. "
                                                "Managers change the team with `/opp team add @rep` and `/opp team remove @rep`.")]},
    ]
