"""Stage alerts and won / lost announcements."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.values import (
    WON,
    OpportunityView,
    Pipelines,
    StageInfo,
)
from bot.i18n import Translator
from bot.slack.blocks import FIELD_TEXT, escape, mrkdwn, plain
from bot.slack.ids import ALERT_OPEN_LINK, RELEASE_BUTTON, TAKE_BUTTON


def stage_alert_message(opp: OpportunityView, stages: Pipelines, change_id: int, mover_id: str, stage: StageInfo, path: Sequence[int],
                        permalink: str | None, *, holder: str | None, t: Translator) -> tuple[str, list[dict]]:
    """The alert posted to a stage's channel (in the workspace's language); `holder` is who took it, if anyone."""
    mention = f"<!subteam^{stage.alert_usergroup}> " if stage.alert_usergroup else ""
    ref, name, customer, stage_name = opp.ref, escape(opp.name), escape(opp.customer), escape(stage.name)
    pipeline = stages.of_stage(stage.id)
    # the path so far within the pipeline the deal is in now: a deal moved from another pipeline starts its path again
    route = " › ".join(escape(stages.name_of(s)) for s in list(dict.fromkeys(s for s in path if pipeline.by_id(s) is not None))[-8:])
    if stages.several:
        text = t("{ref} {name} ({customer}) entered {stage} ({pipeline})", ref=ref, name=name, customer=customer, stage=stage_name,
                 pipeline=escape(pipeline.name))
        headline = t(":rotating_light: <@{mover}> moved *{ref} · {name}* into *{stage}* of the {pipeline} pipeline.", mover=mover_id, ref=ref,
                     name=name, stage=stage_name, pipeline=escape(pipeline.name))
    else:
        text = t("{ref} {name} ({customer}) entered {stage}", ref=ref, name=name, customer=customer, stage=stage_name)
        headline = t(":rotating_light: <@{mover}> moved *{ref} · {name}* into *{stage}*.", mover=mover_id, ref=ref, name=name, stage=stage_name)
    fields = [
        t("*Customer*") + f"\n{customer}",
        t("*Amount*") + f"\n{t.amount(opp.amount, opp.currency)}",
        t("*Owner*") + f"\n<@{opp.owner_id}>",
        t("*Expected close*") + f"\n{t.date(opp.close_date) if opp.close_date else '—'}",
        t("*Stage*") + f"\n{escape(pipeline.name) + ' › ' if stages.several else ''}{stage_name}",
        t("*Path so far*") + f"\n{route or stage_name}",
    ]
    message: list[dict] = [
        {"type": "section", "text": mrkdwn(mention + headline)},
        {"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields]},
    ]
    if opp.next_step:
        message.append({"type": "section", "text": mrkdwn(t("*Next step:* {step}", step=escape(opp.next_step)))})
    value = str(change_id)
    elements: list[dict]
    if holder:
        message.append({"type": "context", "elements": [mrkdwn(t(":raised_hand: Taken by <@{user}>", user=holder))]})
        elements = [{"type": "button", "action_id": RELEASE_BUTTON, "text": plain(t("Release")), "value": value}]
    else:
        elements = [{"type": "button", "action_id": TAKE_BUTTON, "text": plain(t("Take it")), "style": "primary", "value": value}]
    if permalink:
        elements.append({"type": "button", "action_id": ALERT_OPEN_LINK, "text": plain(t("Open")), "url": permalink})
    message.append({"type": "actions", "block_id": f"alert:{change_id}", "elements": elements})
    return text, message


def outcome_message(opp: OpportunityView, status: str, mover_id: str, permalink: str | None,
                    lost_reason: str | None = None, *, t: Translator) -> tuple[str, list[dict]]:
    """The won / lost announcement in its channel (in the workspace's language).
    `lost_reason`: the one the close recorded in the history (the deal may have been reopened since)."""
    ref, name, customer, amount = opp.ref, escape(opp.name), escape(opp.customer), t.amount(opp.amount, opp.currency)
    if status == WON:
        headline = t(":trophy: *{ref} · {name}* ({customer}) is *won* — {amount}. Owner <@{owner}>.",
                     ref=ref, name=name, customer=customer, amount=amount, owner=opp.owner_id)
        text = t("{ref} {name} won", ref=ref, name=name)
    else:
        if lost_reason:
            headline = t(":small_red_triangle_down: *{ref} · {name}* ({customer}) is *lost* — {amount}. Owner <@{owner}>. Reason: {reason}",
                         ref=ref, name=name, customer=customer, amount=amount, owner=opp.owner_id, reason=escape(lost_reason))
        else:
            headline = t(":small_red_triangle_down: *{ref} · {name}* ({customer}) is *lost* — {amount}. Owner <@{owner}>.",
                         ref=ref, name=name, customer=customer, amount=amount, owner=opp.owner_id)
        text = t("{ref} {name} lost", ref=ref, name=name)
    message: list[dict] = [{"type": "section", "text": mrkdwn(headline)},
                           {"type": "context", "elements": [mrkdwn(t("Marked by <@{user}>", user=mover_id))]}]
    if permalink:
        message.append({"type": "actions", "elements": [{"type": "button", "action_id": ALERT_OPEN_LINK, "text": plain(t("Open")), "url": permalink}]})
    return text, message
