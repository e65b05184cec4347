"""/opp team."""

from __future__ import annotations

from bot.i18n import Translator
from bot.slack.blocks import clip, escape, mrkdwn


def team_blocks(team, *, t: Translator) -> list[dict]:
    members = t(", ").join(f"<@{m}>" for m in team.member_ids) or t("nobody yet")
    zone = escape(team.timezone) if team.timezone else t("workspace time zone")
    schedule = {"cron": escape(team.digest), "zone": zone}
    if team.channel and not team.channel.startswith("#"):
        digest = t("Digest schedule `{cron}` ({zone}) · digest also in <#{channel}>.", channel=team.channel, **schedule)
    elif team.channel:
        digest = t("Digest schedule `{cron}` ({zone}) · digest also in {channel}.", channel=escape(team.channel), **schedule)
    else:
        digest = t("Digest schedule `{cron}` ({zone}).", **schedule)
    return [
        {"type": "section", "text": mrkdwn(t("*Team {name}*\nManager: <@{manager}>\nReps ({n}): {members}", name=escape(team.name), manager=team.manager_id,
                                             n=len(team.member_ids), members=clip(members, 2500)))},
        {"type": "context", "elements": [mrkdwn(digest + " " + t("Managers change the team with `/opp team add @rep` and `/opp team remove @rep`."))]},
    ]
