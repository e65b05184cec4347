"""Opportunity cards, the New opportunity and Lost modals, lists and details."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.deals.forms import (
    CUSTOMER_MAX,
    LOST_REASON_MAX,
    NAME_MAX,
    NEXT_STEP_MAX,
    NOTES_MAX,
    SOURCE_MAX,
    FormChoices,
)
from bot.domain.stages import describe_move
from bot.domain.values import (
    CHANGE_KIND,
    FOUND,
    LOST,
    REACH,
    TAG_CHOICES,
    VISIBILITY,
    WON,
    Card,
    FollowUpView,
    HistoryEntry,
    Invalid,
    OpportunityView,
    StageModel,
)
from bot.domain.words import count
from bot.slack.blocks import (
    FIELD_TEXT,
    HEADER_TEXT,
    MAX_OPTIONS,
    MESSAGE_BLOCKS,
    SECTION_TEXT,
    VIEW_BLOCKS,
    VIEW_TITLE,
    _input,
    _radio,
    _select,
    _text_input,
    clip,
    days_between,
    escape,
    format_amount,
    mrkdwn,
    option,
    plain,
    slack_date,
)
from bot.slack.ids import (
    ADD_FOLLOW_UP_BUTTON,
    DETAILS_BUTTON,
    DETAILS_MODAL,
    LIST_PAGE_BUTTON,
    LOST_BUTTON,
    LOST_MODAL,
    NEEDS_OWNER_BUTTON,
    NEW_MODAL,
    STAGE_SELECT,
    WON_BUTTON,
)
from storage.analytics.values import STALLED_BY_NORM, StalledDeal

LIST_PAGE_SIZE = 25


# action_id / callback_id values shared with the handlers
















def status_label(opp: OpportunityView, stages: StageModel) -> str:
    if opp.status == WON:
        return "Won :trophy:"
    if opp.status == LOST:
        return "Lost"
    return stages.name_of(opp.stage_id)


def stage_path(opp: OpportunityView, stages: StageModel) -> str:
    """Prospect › *[Solution design]* › Technical evaluation › … › Won / Lost"""
    parts = []
    for stage in stages.stages:
        if opp.is_open and stage.id == opp.stage_id:
            parts.append(f"*[{escape(stage.name)}]*")
        else:
            parts.append(escape(stage.name))
    parts.append("*[Won]*" if opp.status == WON else "Won")
    parts.append("*[Lost]*" if opp.status == LOST else "Lost")
    return " › ".join(parts)


def card_text(opp: OpportunityView, stages: StageModel) -> str:
    """The notification / fallback text of a card."""
    return f"{opp.ref} {escape(opp.name)} ({escape(opp.customer)}) · {status_label(opp, stages)}"


def _tags(opp: OpportunityView) -> list[str]:
    tags = []
    for key, labels in TAG_CHOICES.items():
        value = getattr(opp, key)
        if value:
            tags.append(labels.get(value, value))
    return tags


def follow_up_line(follow_up: FollowUpView, now: datetime) -> str:
    overdue = follow_up.due_at < now
    marker = ":alarm_clock: *Overdue* " if overdue else ""
    return f"{marker}{slack_date(follow_up.due_at)} · {escape(follow_up.text)} · <@{follow_up.assignee_id}>"


def opportunity_card(opp: OpportunityView, stages: StageModel, now: datetime, next_follow_up: FollowUpView | None = None,
                     collaborators: Sequence[tuple[str, int]] = ()) -> list[dict]:
    """The card; `collaborators` are (user_id, stage_id) of colleagues who took the deal's stage alerts."""
    fields = [
        f"*Customer*\n{escape(opp.customer)}",
        f"*Amount*\n{format_amount(opp.amount, opp.currency)}",
        f"*Owner*\n<@{opp.owner_id}>" + (" · _needs an owner_" if opp.needs_owner else ""),
        f"*Expected close*\n{opp.close_date.isoformat() if opp.close_date else '—'}",
    ]
    if opp.is_open:
        fields.append(f"*Stage*\n{escape(stages.name_of(opp.stage_id))} · {count(days_between(opp.stage_entered_at, now), 'day', 'days')} in stage")
    else:
        closed = opp.closed_at or opp.updated_at
        fields.append(f"*Status*\n{status_label(opp, stages)} on {slack_date(closed, '{date_short}')}")
    segment = " · ".join(escape(v) for v in (opp.industry, opp.region, opp.company_size) if v)
    if segment:
        fields.append(f"*Segment*\n{segment}")
    if opp.source:
        fields.append(f"*Source*\n{escape(opp.source)}")
    blocks: list[dict] = [
        {"type": "header", "text": plain(f"{opp.ref} · {opp.name}", HEADER_TEXT)},
        {"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields[:10]]},
        {"type": "context", "elements": [mrkdwn(stage_path(opp, stages))]},
    ]
    if opp.status == LOST and opp.lost_reason:
        blocks.append({"type": "section", "text": mrkdwn(f"*Lost because:* {escape(opp.lost_reason)}")})
    if opp.next_step:
        blocks.append({"type": "section", "text": mrkdwn(f"*Next step:* {escape(opp.next_step)}")})
    if opp.notes:
        blocks.append({"type": "section", "text": mrkdwn(f"*Notes:* {escape(clip(opp.notes, 600))}")})
    if next_follow_up is not None and opp.is_open:
        blocks.append({"type": "section", "text": mrkdwn(f"*Next follow-up:* {follow_up_line(next_follow_up, now)}")})
    if collaborators:
        people = ", ".join(f"<@{user}> ({escape(stages.name_of(stage_id))})" for user, stage_id in collaborators[:20])
        blocks.append({"type": "context", "elements": [mrkdwn(f"Working with: {people}")]})
    if tags := _tags(opp):
        blocks.append({"type": "context", "elements": [mrkdwn("Tags: " + " · ".join(tags))]})
    blocks.append({"type": "actions", "block_id": f"card:{opp.id}", "elements": card_controls(opp, stages)})
    return blocks


def card_controls(opp: OpportunityView, stages: StageModel) -> list[dict]:
    value = str(opp.id)
    select: dict = {
        "type": "static_select",
        "action_id": STAGE_SELECT,
        "placeholder": plain("Move to stage…" if opp.is_open else "Reopen in stage…"),
        "options": [option(f"{i}. {s.name}", f"{opp.id}:{s.id}") for i, s in enumerate(stages.stages[:MAX_OPTIONS], start=1)],
    }
    if opp.is_open:
        current = stages.index_of(opp.stage_id)
        if current is not None:
            select["initial_option"] = select["options"][current]
    elements = [select]
    if opp.is_open:
        elements.append({"type": "button", "action_id": WON_BUTTON, "text": plain("Won"), "style": "primary", "value": value})
        elements.append({"type": "button", "action_id": LOST_BUTTON, "text": plain("Lost"), "style": "danger", "value": value})
        elements.append({"type": "button", "action_id": ADD_FOLLOW_UP_BUTTON, "text": plain("Add follow-up"), "value": value})
        if not opp.needs_owner:
            elements.append({"type": "button", "action_id": NEEDS_OWNER_BUTTON, "text": plain("Needs an owner"), "value": value})
    elements.append({"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Details"), "value": value})
    return elements


def history_lines(entries: Sequence[HistoryEntry], stages: StageModel) -> list[str]:
    return [
        f"{slack_date(e.changed_at)} · {escape(describe_move(stages, e.from_stage_id, e.from_status, e.to_stage_id, e.to_status))} · <@{e.changed_by}>"
        for e in entries
    ]


def details_blocks(card: Sequence[dict], opp: OpportunityView, stages: StageModel, entries: Sequence[HistoryEntry], now: datetime, *, limit: int,
                   omitted: int = 0) -> list[dict]:
    """The card (as built by opportunity_card) without its controls, then the full notes and the stage history."""
    blocks = [b for b in card if b["type"] != "actions"]
    blocks = [b for b in blocks if not (b["type"] == "section" and b.get("text", {}).get("text", "").startswith("*Notes:*"))]
    if opp.notes:
        blocks.append({"type": "section", "text": mrkdwn(f"*Notes:*\n{escape(opp.notes)}")})
    blocks.append({"type": "context", "elements": [mrkdwn(f"Created {slack_date(opp.created_at)} by <@{opp.created_by}> · updated {slack_date(opp.updated_at)}")]})
    blocks.append({"type": "divider"})
    blocks.append({"type": "section", "text": mrkdwn("*Stage history*")})
    lines = history_lines(entries, stages)
    room = max(1, limit - len(blocks))
    chunks = _chunk_lines(lines, SECTION_TEXT)
    if len(chunks) > room or omitted:
        chunks = chunks[-room:]
        chunks[0] = clip("_(older changes omitted)_\n" + chunks[0], SECTION_TEXT)
    blocks.extend({"type": "section", "text": mrkdwn(chunk)} for chunk in chunks)
    return blocks


def _chunk_lines(lines: Iterable[str], limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def details_modal(card: Sequence[dict], opp: OpportunityView, stages: StageModel, entries: Sequence[HistoryEntry], now: datetime,
                  omitted: int = 0) -> dict:
    return {
        "type": "modal",
        "callback_id": DETAILS_MODAL,
        "title": plain(clip(opp.ref, VIEW_TITLE)),
        "close": plain("Close"),
        "blocks": details_blocks(card, opp, stages, entries, now, limit=VIEW_BLOCKS, omitted=omitted),
    }


def new_opportunity_modal(choices: FormChoices, *, owner_id: str, metadata: dict, name: str | None = None, notes: str | None = None) -> dict:
    stage_choices = [(f"{i}. {s.name}", str(s.id)) for i, s in enumerate(choices.stages.stages, start=1)]
    blocks = [
        _input("name", "Opportunity name", _text_input("value", max_length=NAME_MAX, initial=name, placeholder="e.g. Acme — 200 seats")),
        _input("customer", "Customer / account", _text_input("value", max_length=CUSTOMER_MAX)),
        _input("amount", "Amount", _text_input("value", max_length=30, placeholder="e.g. 12,500.00"), optional=True),
        _input("currency", "Currency", _select("value", [(c, c) for c in choices.currencies], initial=choices.currencies[0])),
        _input("close_date", "Expected close date", {"type": "datepicker", "action_id": "value"}, optional=True),
        _input("stage", "Stage", _select("value", stage_choices, initial=str(choices.stages.first.id))),
        _input("owner", "Owner", {"type": "users_select", "action_id": "value", "initial_user": owner_id}, optional=True,
               hint="Clear it to have the team's manager assign the deal, with suggestions."),
        _input("industry", "Industry", _select("value", [(v, v) for v in choices.industries]), optional=True),
        _input("region", "Region", _select("value", [(v, v) for v in choices.regions]), optional=True),
        _input("company_size", "Company size", _select("value", [(v, v) for v in choices.company_sizes]), optional=True),
        _input("source", "Source", _text_input("value", max_length=SOURCE_MAX, placeholder="e.g. referral, trade show, inbound"), optional=True),
        _input("found", "How it was found", _radio("value", FOUND), optional=True),
        _input("reach", "Reach", _radio("value", REACH), optional=True, hint="Strategic: long-term, company-wide impact. Tactical: short-term, local."),
        _input("visibility", "Visibility", _radio("value", VISIBILITY), optional=True, hint="Latent: had to be dug out. Explicit: stated by the customer."),
        _input("change_kind", "Change that created it", _select("value", [(label, value) for value, label in CHANGE_KIND.items()]), optional=True),
        _input("next_step", "Next step", _text_input("value", max_length=NEXT_STEP_MAX), optional=True),
        _input("notes", "Notes", _text_input("value", max_length=NOTES_MAX, initial=notes, multiline=True), optional=True),
    ]
    return {
        "type": "modal",
        "callback_id": NEW_MODAL,
        "title": plain("New opportunity"),
        "submit": plain("Create"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def lost_reason_modal(opp: OpportunityView, metadata: dict) -> dict:
    return {
        "type": "modal",
        "callback_id": LOST_MODAL,
        "title": plain("Mark as lost"),
        "submit": plain("Mark lost"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "text": mrkdwn(f"*{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)})")},
            _input("reason", "Why was it lost?", _text_input("value", max_length=LOST_REASON_MAX, multiline=True,
                                                             placeholder="e.g. price, chose a competitor, no budget")),
        ],
    }


@dataclass(frozen=True)
class ListPage:
    owner_id: str
    items: Sequence[OpportunityView]
    total: int
    offset: int
    stage_filter: int | None = None
    follow_ups: dict[int, FollowUpView] = field(default_factory=dict)


def stalled_why(deal: StalledDeal, stages: StageModel) -> str:
    """Why a deal is stalled, in the words of the rule that flagged it (storage.analytics.stalled decides):
    "21 days in Negotiation; stalled after 14" or
    "9 days in Prospect; the team's typical time there is 3 days (from 14 deals)"."""
    where = f"{count(deal.days_in_stage, 'day', 'days')} in {escape(stages.name_of(deal.stage_id))}"
    if deal.rule == STALLED_BY_NORM and deal.typical_days is not None:
        typical = max(1, math.floor(deal.typical_days + 0.5))
        return f"{where}; the team's typical time there is {count(typical, 'day', 'days')} (from {deal.typical_visits} deals)"
    return f"{where}; stalled after {deal.max_days}"


def opportunity_line(opp: OpportunityView, now: datetime, follow_up: FollowUpView | None = None) -> str:
    marker = ":alarm_clock: " if follow_up is not None and follow_up.due_at < now else ""
    plan = f"\nNext: {follow_up_line(follow_up, now)}" if follow_up is not None else ""
    return clip(
        f"{marker}*{opp.ref}* {escape(opp.name)} — {escape(opp.customer)} · {format_amount(opp.amount, opp.currency)}"
        f" · {days_between(opp.stage_entered_at, now)} d in stage{plan}", SECTION_TEXT)


def overdue_first(items: Sequence[OpportunityView], follow_ups: dict[int, FollowUpView], now: datetime) -> list[OpportunityView]:
    """Within each stage, deals with an overdue follow-up come first; otherwise the order is kept."""
    return sorted(items, key=lambda o: (0 if (f := follow_ups.get(o.id)) is not None and f.due_at < now else 1))


def list_blocks(page: ListPage, stages: StageModel, now: datetime, *, viewer_id: str) -> list[dict]:
    who = "Your" if page.owner_id == viewer_id else f"<@{page.owner_id}>'s"
    scope = f" in {escape(stages.name_of(page.stage_filter))}" if page.stage_filter else ""
    if not page.total:
        return [{"type": "section", "text": mrkdwn(f"{who} open opportunities{scope}: none. Create one with `/opp new`.")}]
    last = page.offset + len(page.items)
    blocks: list[dict] = [{"type": "section", "text": mrkdwn(f"*{who} open opportunities{scope}* · {page.offset + 1}–{last} of {page.total}")}]
    overdue = sum(1 for o in page.items if (f := page.follow_ups.get(o.id)) is not None and f.due_at < now)
    if overdue:
        blocks.append({"type": "context", "elements": [mrkdwn(f":alarm_clock: {overdue} on this page with an overdue follow-up, shown first in each stage")]})
    current_stage = None
    ordered = sorted(page.items, key=lambda o: 99 if (index := stages.index_of(o.stage_id)) is None else index)
    grouped: list[OpportunityView] = []
    for stage_id in dict.fromkeys(o.stage_id for o in ordered):
        grouped.extend(overdue_first([o for o in ordered if o.stage_id == stage_id], page.follow_ups, now))
    for opp in grouped:
        if opp.stage_id != current_stage:
            current_stage = opp.stage_id
            blocks.append({"type": "context", "elements": [mrkdwn(f"*{escape(stages.name_of(opp.stage_id))}*")]})
        blocks.append({"type": "section", "text": mrkdwn(opportunity_line(opp, now, page.follow_ups.get(opp.id))),
                       "accessory": {"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open"), "value": str(opp.id)}})
    if last < page.total:
        state = json.dumps({"o": page.owner_id, "s": page.stage_filter, "n": last})
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": LIST_PAGE_BUTTON, "text": plain(f"Next page ({last + 1}–{min(last + LIST_PAGE_SIZE, page.total)})"), "value": state}]})
    return blocks


def read_page_button(value: str) -> tuple[str, int | None, int]:
    """What a Next page button of `list_blocks` carries: (owner, stage filter, offset); Invalid when it carries something else."""
    try:
        state = json.loads(value or "{}")
        owner, stage_id, offset = str(state["o"]), state.get("s"), int(state["n"])
    except (ValueError, KeyError, TypeError):
        raise Invalid("That page button is not valid any more; run `/opp list` again.") from None
    return owner, stage_id if isinstance(stage_id, int) else None, offset


def card_message(card: Card, stages: StageModel, now: datetime, *, with_history: bool = False) -> tuple[str, list[dict]]:
    """A card as a message: its notification text and blocks; `with_history` adds the stage history above its controls."""
    opp = card.opportunity
    blocks = opportunity_card(opp, stages, now, card.next_follow_up, card.collaborators)
    if with_history:
        actions = blocks[-1]
        blocks = details_blocks(blocks, opp, stages, card.history, now, limit=MESSAGE_BLOCKS - 1, omitted=card.history_omitted) + [actions]
    return card_text(opp, stages), blocks


def card_details_modal(card: Card, stages: StageModel, now: datetime) -> dict:
    opp = card.opportunity
    return details_modal(opportunity_card(opp, stages, now, card.next_follow_up, card.collaborators), opp, stages, card.history, now,
                         card.history_omitted)
