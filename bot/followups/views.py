"""Follow-up modal, reminder DMs, stalled-deal nudges."""

from __future__ import annotations

import json
from datetime import datetime

from bot.deals.views import card_controls, stalled_why
from bot.domain.values import (
    FollowUpView,
    OpportunityView,
    StageModel,
)
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

QUICK_CHOICES = {"tomorrow": "Tomorrow 9:00", "3d": "In 3 days", "monday": "Next Monday 9:00"}


SNOOZE_CHOICES = {"1h": "1 hour", "tomorrow": "Tomorrow 9:00", "3d": "3 days"}


def follow_up_modal(opp: OpportunityView, metadata: dict, *, assignee_id: str) -> dict:
    return {
        "type": "modal",
        "callback_id": FOLLOW_UP_MODAL,
        "title": plain("Add follow-up"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "text": mrkdwn(f"*{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)})")},
            _input("what", "What to do", _text_input("value", max_length=500, placeholder="e.g. call the buyer back about pricing")),
            _input("quick", "When", _radio("value", QUICK_CHOICES), optional=True, hint="Or pick a date and time below."),
            _input("date", "Date", {"type": "datepicker", "action_id": "value"}, optional=True),
            _input("time", "Time", {"type": "timepicker", "action_id": "value", "initial_time": "09:00"}, optional=True,
                   hint="In your Slack time zone."),
            _input("assignee", "Who", {"type": "users_select", "action_id": "value", "initial_user": assignee_id}),
        ],
    }


def add_follow_up_offer(opp: OpportunityView, text: str) -> list[dict]:
    """A confirmation that offers to plan the next step when the deal has none pending."""
    return [{"type": "section", "text": mrkdwn(text)},
            {"type": "actions", "elements": [{"type": "button", "action_id": ADD_FOLLOW_UP_BUTTON, "text": plain("Add follow-up"),
                                              "style": "primary", "value": str(opp.id)}]},
            {"type": "context", "elements": [mrkdwn(f"{opp.ref} has no follow-up planned.")]}]


def reminder_message(follow_up: FollowUpView, opp: OpportunityView, *, nudge: bool, late_since: datetime | None) -> tuple[str, list[dict]]:
    lead = ":bell: *Still to do*" if nudge else ":bell: *Follow-up due*"
    late = f"\n_It was due at {slack_date(late_since)}; I was offline then._" if late_since else ""
    text = f"Follow-up due: {escape(follow_up.text)} — {opp.ref} {escape(opp.name)} ({escape(opp.customer)})"
    value = str(follow_up.id)
    return text, [
        {"type": "section", "text": mrkdwn(f"{lead}: {escape(follow_up.text)}\n*{opp.ref} · {escape(opp.name)}* — {escape(opp.customer)}"
                                           f"\nDue {slack_date(follow_up.due_at)}{late}")},
        {"type": "actions", "block_id": f"reminder:{follow_up.id}", "elements": [
            {"type": "button", "action_id": DONE_BUTTON, "text": plain("Done"), "style": "primary", "value": value},
            {"type": "static_select", "action_id": SNOOZE_SELECT, "placeholder": plain("Snooze…"),
             "options": [option(label, f"{follow_up.id}:{key}") for key, label in SNOOZE_CHOICES.items()]},
            {"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open opportunity"), "value": str(opp.id)},
        ]},
    ]


def reminder_closed_message(follow_up: FollowUpView, opp: OpportunityView, outcome: str) -> tuple[str, list[dict]]:
    text = f"{outcome} — {escape(follow_up.text)} ({opp.ref})"
    return text, [
        {"type": "section", "text": mrkdwn(f"{outcome}\n*{opp.ref} · {escape(opp.name)}* — {escape(opp.customer)}")},
        {"type": "actions", "elements": [{"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open opportunity"), "value": str(opp.id)}]},
    ]


def stalled_message(opp: OpportunityView, stalled: StalledDeal, stages: StageModel) -> tuple[str, list[dict]]:
    """The stalled-deal DM to the owner; `stalled` says which rule flagged it (storage.analytics.stalled)."""
    why = stalled_why(stalled, stages)
    text = f"{opp.ref} {escape(opp.name)} has stalled: {why}"
    select = card_controls(opp, stages)[0]
    return text, [
        {"type": "section", "text": mrkdwn(f":hourglass: *{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)}) has stalled: "
                                           f"{why}. Move it on, or plan the next step.")},
        {"type": "actions", "elements": [
            select,
            {"type": "button", "action_id": ADD_FOLLOW_UP_BUTTON, "text": plain("Add follow-up"), "style": "primary", "value": str(opp.id)},
            {"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open opportunity"), "value": str(opp.id)},
        ]},
    ]
