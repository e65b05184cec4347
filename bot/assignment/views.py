"""Suggested owners for a deal that needs one."""

from __future__ import annotations

from bot.domain.values import (
    OpportunityView,
)
from bot.i18n import Translator
from bot.slack.blocks import SECTION_TEXT, clip, escape, mrkdwn, plain
from bot.slack.ids import ASSIGN_BUTTON


def suggestions_message(opp: OpportunityView, suggestions, *, requested_by: str, team_name: str, t: Translator) -> tuple[str, list[dict]]:
    """To the manager (or routing channel): a deal that needs an owner, the best reps with their reasons, and Assign buttons."""
    text = t("{ref} {name} needs an owner", ref=opp.ref, name=escape(opp.name))
    out: list[dict] = [{"type": "section", "text": mrkdwn(
        t(":busts_in_silhouette: *{ref} · {name}* ({customer}, {amount}) needs an owner — asked by <@{user}>.",
          ref=opp.ref, name=escape(opp.name), customer=escape(opp.customer), amount=t.amount(opp.amount, opp.currency), user=requested_by))}]
    if not suggestions:
        out.append({"type": "section", "text": mrkdwn(t("{team} has no available rep to suggest (nobody on the team, or everyone is away). "
                                                        "Assign it with `/opp assign {ref} @rep`.", team=escape(team_name), ref=opp.ref))})
        return text, out
    for rank_number, suggestion in enumerate(suggestions, start=1):
        out.append({"type": "section", "text": mrkdwn(clip(t("*{rank}. <@{user}>* — {reasons}", rank=rank_number, user=suggestion.user_id,
                                                             reasons=escape(suggestion.reasons_in(t))), SECTION_TEXT)),
                    "accessory": {"type": "button", "action_id": ASSIGN_BUTTON, "text": plain(t("Assign")), "value": f"{opp.id}:{suggestion.user_id}"}})
    out.append({"type": "context", "elements": [mrkdwn(t("Ranked on similar deals won, speed and current load in {team}. "
                                                         "Or `/opp assign {ref} @rep`.", team=escape(team_name), ref=opp.ref))]})
    return text, out


def auto_assigned_note(opp: OpportunityView, chosen, *, t: Translator) -> str:
    """To the manager: who a deal was assigned to automatically, and why."""
    return t("{ref} {name} was assigned automatically to <@{user}>: {reasons}.", ref=opp.ref, name=escape(opp.name), user=chosen.user_id,
             reasons=chosen.reasons_in(t))
