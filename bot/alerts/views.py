"""Stage alerts and won / lost announcements."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.values import (
    WON,
    OpportunityView,
    StageModel,
)
from bot.slack.blocks import FIELD_TEXT, escape, format_amount, mrkdwn, plain
from bot.slack.ids import ALERT_OPEN_LINK, RELEASE_BUTTON, TAKE_BUTTON


def stage_alert_message(opp: OpportunityView, stages: StageModel, change_id: int, mover_id: str, stage, path: Sequence[int],
                        permalink: str | None, *, holder: str | None) -> tuple[str, list[dict]]:
    """The alert posted to a stage's channel; `holder` is who took it, if anyone."""
    mention = f"<!subteam^{stage.alert_usergroup}> " if stage.alert_usergroup else ""
    text = f"{opp.ref} {escape(opp.name)} ({escape(opp.customer)}) entered {escape(stage.name)}"
    route = " › ".join(escape(stages.name_of(s)) for s in list(dict.fromkeys(path))[-8:])
    fields = [
        f"*Customer*\n{escape(opp.customer)}",
        f"*Amount*\n{format_amount(opp.amount, opp.currency)}",
        f"*Owner*\n<@{opp.owner_id}>",
        f"*Expected close*\n{opp.close_date.isoformat() if opp.close_date else '—'}",
        f"*Stage*\n{escape(stage.name)}",
        f"*Path so far*\n{route or escape(stage.name)}",
    ]
    message: list[dict] = [
        {"type": "section", "text": mrkdwn(f"{mention}:rotating_light: <@{mover_id}> moved *{opp.ref} · {escape(opp.name)}* into *{escape(stage.name)}*.")},
        {"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields]},
    ]
    if opp.next_step:
        message.append({"type": "section", "text": mrkdwn(f"*Next step:* {escape(opp.next_step)}")})
    value = str(change_id)
    elements: list[dict]
    if holder:
        message.append({"type": "context", "elements": [mrkdwn(f":raised_hand: Taken by <@{holder}>")]})
        elements = [{"type": "button", "action_id": RELEASE_BUTTON, "text": plain("Release"), "value": value}]
    else:
        elements = [{"type": "button", "action_id": TAKE_BUTTON, "text": plain("Take it"), "style": "primary", "value": value}]
    if permalink:
        elements.append({"type": "button", "action_id": ALERT_OPEN_LINK, "text": plain("Open"), "url": permalink})
    message.append({"type": "actions", "block_id": f"alert:{change_id}", "elements": elements})
    return text, message


def outcome_message(opp: OpportunityView, status: str, mover_id: str, permalink: str | None,
                    lost_reason: str | None = None) -> tuple[str, list[dict]]:
    """`lost_reason`: the one the close recorded in the history (the deal may have been reopened since)."""
    if status == WON:
        headline = f":trophy: *{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)}) is *won* — {format_amount(opp.amount, opp.currency)}. Owner <@{opp.owner_id}>."
    else:
        reason = f" Reason: {escape(lost_reason)}" if lost_reason else ""
        headline = f":small_red_triangle_down: *{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)}) is *lost* — {format_amount(opp.amount, opp.currency)}. Owner <@{opp.owner_id}>.{reason}"
    message: list[dict] = [{"type": "section", "text": mrkdwn(headline)},
                           {"type": "context", "elements": [mrkdwn(f"Marked by <@{mover_id}>")]}]
    if permalink:
        message.append({"type": "actions", "elements": [{"type": "button", "action_id": ALERT_OPEN_LINK, "text": plain("Open"), "url": permalink}]})
    return f"{opp.ref} {escape(opp.name)} {status}", message
