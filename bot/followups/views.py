"""Follow-up modal, reminder DMs, stalled-deal nudges."""

from __future__ import annotations

import json
from datetime import datetime

from bot.deals.views import card_controls, stalled_why
from bot.domain.values import (
    N_,
    FollowUpView,
    OpportunityView,
    Pipelines,
)
from bot.i18n import Translator
from bot.slack.blocks import (
    _input,
    _radio,
    _text_input,
    escape,
    mrkdwn,
    option,
    plain,
    slack_date,
)
from bot.slack.ids import (
    ADD_FOLLOW_UP_BUTTON,
    DETAILS_BUTTON,
    DONE_BUTTON,
    FOLLOW_UP_MODAL,
    SNOOZE_SELECT,
)
from storage.analytics.values import StalledDeal

QUICK_CHOICES = {"tomorrow": N_("Tomorrow 9:00"), "3d": N_("In 3 days"), "monday": N_("Next Monday 9:00")}


SNOOZE_CHOICES = {"1h": N_("1 hour"), "tomorrow": N_("Tomorrow 9:00"), "3d": N_("3 days")}


def follow_up_modal(opp: OpportunityView, metadata: dict, *, assignee_id: str, t: Translator) -> dict:
    return {
        "type": "modal",
        "callback_id": FOLLOW_UP_MODAL,
        "title": plain(t("Add follow-up")),
        "submit": plain(t("Save")),
        "close": plain(t("Cancel")),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "text": mrkdwn(t("*{ref} · {name}* ({customer})", ref=opp.ref, name=escape(opp.name), customer=escape(opp.customer)))},
            _input("what", t("What to do"), _text_input("value", max_length=500, placeholder=t("e.g. call the buyer back about pricing"))),
            _input("quick", t("When"), _radio("value", {key: t(label) for key, label in QUICK_CHOICES.items()}), optional=True,
                   hint=t("Or pick a date and time below.")),
            _input("date", t("Date"), {"type": "datepicker", "action_id": "value"}, optional=True),
            _input("time", t("Time"), {"type": "timepicker", "action_id": "value", "initial_time": "09:00"}, optional=True,
                   hint=t("In your Slack time zone.")),
            _input("assignee", t("Who"), {"type": "users_select", "action_id": "value", "initial_user": assignee_id}),
        ],
    }


def add_follow_up_offer(opp: OpportunityView, text: str, *, t: Translator) -> list[dict]:
    """A confirmation that offers to plan the next step when the deal has none pending (`text` already in the reader's language)."""
    return [{"type": "section", "text": mrkdwn(text)},
            {"type": "actions", "elements": [{"type": "button", "action_id": ADD_FOLLOW_UP_BUTTON, "text": plain(t("Add follow-up")),
                                              "style": "primary", "value": str(opp.id)}]},
            {"type": "context", "elements": [mrkdwn(t("{ref} has no follow-up planned.", ref=opp.ref))]}]


def reminder_message(follow_up: FollowUpView, opp: OpportunityView, *, nudge: bool, late_since: datetime | None,
                     t: Translator) -> tuple[str, list[dict]]:
    task, ref, name, customer = escape(follow_up.text), opp.ref, escape(opp.name), escape(opp.customer)
    if nudge:
        lead = t(":bell: *Still to do*: {task}", task=task)
    else:
        lead = t(":bell: *Follow-up due*: {task}", task=task)
    late = "\n" + t("_It was due at {due}; I was offline then._", due=slack_date(late_since)) if late_since else ""
    text = t("Follow-up due: {task} — {ref} {name} ({customer})", task=task, ref=ref, name=name, customer=customer)
    value = str(follow_up.id)
    return text, [
        {"type": "section", "text": mrkdwn(f"{lead}\n" + t("*{ref} · {name}* — {customer}", ref=ref, name=name, customer=customer)
                                           + "\n" + t("Due {due}", due=slack_date(follow_up.due_at)) + late)},
        {"type": "actions", "block_id": f"reminder:{follow_up.id}", "elements": [
            {"type": "button", "action_id": DONE_BUTTON, "text": plain(t("Done")), "style": "primary", "value": value},
            {"type": "static_select", "action_id": SNOOZE_SELECT, "placeholder": plain(t("Snooze…")),
             "options": [option(t(label), f"{follow_up.id}:{key}") for key, label in SNOOZE_CHOICES.items()]},
            {"type": "button", "action_id": DETAILS_BUTTON, "text": plain(t("Open opportunity")), "value": str(opp.id)},
        ]},
    ]


def reminder_closed_message(follow_up: FollowUpView, opp: OpportunityView, outcome: str, *, t: Translator) -> tuple[str, list[dict]]:
    """The reminder DM once done or snoozed; `outcome` is the service's answer, already in the reader's language."""
    text = t("{outcome} — {task} ({ref})", outcome=outcome, task=escape(follow_up.text), ref=opp.ref)
    return text, [
        {"type": "section", "text": mrkdwn(f"{outcome}\n" + t("*{ref} · {name}* — {customer}", ref=opp.ref, name=escape(opp.name),
                                                                customer=escape(opp.customer)))},
        {"type": "actions", "elements": [{"type": "button", "action_id": DETAILS_BUTTON, "text": plain(t("Open opportunity")), "value": str(opp.id)}]},
    ]


def stalled_message(opp: OpportunityView, stalled: StalledDeal, stages: Pipelines, *, t: Translator) -> tuple[str, list[dict]]:
    """The stalled-deal DM to the owner; `stalled` says which rule flagged it (storage.analytics.stalled)."""
    why = stalled_why(stalled, stages, t=t)
    text = t("{ref} {name} has stalled: {why}", ref=opp.ref, name=escape(opp.name), why=why)
    select = card_controls(opp, stages, t=t)[0]  # the deal's own pipeline's stages
    where = ([{"type": "context", "elements": [mrkdwn(t("In the {pipeline} pipeline.", pipeline=escape(stages.of_stage(opp.stage_id).name)))]}]
             if stages.several else [])
    return text, [
        {"type": "section", "text": mrkdwn(t(":hourglass: *{ref} · {name}* ({customer}) has stalled: {why}. Move it on, or plan the next step.",
                                             ref=opp.ref, name=escape(opp.name), customer=escape(opp.customer), why=why))},
        *where,
        {"type": "actions", "elements": [
            select,
            {"type": "button", "action_id": ADD_FOLLOW_UP_BUTTON, "text": plain(t("Add follow-up")), "style": "primary", "value": str(opp.id)},
            {"type": "button", "action_id": DETAILS_BUTTON, "text": plain(t("Open opportunity")), "value": str(opp.id)},
        ]},
    ]
