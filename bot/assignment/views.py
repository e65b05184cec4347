"""Suggested owners for a deal that needs one."""

from __future__ import annotations

from bot.domain.values import (
    OpportunityView,
)
from bot.slack.blocks import SECTION_TEXT, clip, escape, format_amount, mrkdwn, plain
from bot.slack.ids import ASSIGN_BUTTON


def suggestions_message(opp: OpportunityView, suggestions, *, requested_by: str, team_name: str) -> tuple[str, list[dict]]:
    """To the manager (or routing channel): a deal that needs an owner, the best reps with their reasons, and Assign buttons."""
    text = f"{opp.ref} {escape(opp.name)} needs an owner"
    out: list[dict] = [{"type": "section", "text": mrkdwn(
        f":busts_in_silhouette: *{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)}, {format_amount(opp.amount, opp.currency)}) needs an owner"
        f" — asked by <@{requested_by}>.")}]
    if not suggestions:
        out.append({"type": "section", "text": mrkdwn(f"{escape(team_name)} has no available rep to suggest (nobody on the team, or everyone is away). "
                                                      f"Assign it with `/opp assign {opp.ref} @rep`.")})
        return text, out
    for rank_number, suggestion in enumerate(suggestions, start=1):
        out.append({"type": "section", "text": mrkdwn(clip(f"*{rank_number}. <@{suggestion.user_id}>* — {escape(suggestion.reasons)}", SECTION_TEXT)),
                    "accessory": {"type": "button", "action_id": ASSIGN_BUTTON, "text": plain("Assign"), "value": f"{opp.id}:{suggestion.user_id}"}})
    out.append({"type": "context", "elements": [mrkdwn(f"Ranked on similar deals won, speed and current load in {escape(team_name)}. "
                                                       f"Or `/opp assign {opp.ref} @rep`.")]})
    return text, out
